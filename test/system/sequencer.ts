import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * System test files share one lab and must run in name order (10-bootstrap first, zz-lab-down last).
 * Files of other projects keep vitest's own order; system files are sorted by name within their slots.
 */
export default class SystemByName extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const isSystem = (f: TestSpecification) => f.project.name === 'system';
    const system = sorted.filter(isSystem).sort((a, b) => a.moduleId.localeCompare(b.moduleId));
    let i = 0;
    return sorted.map((f) => (isSystem(f) ? system[i++]! : f));
  }
}
