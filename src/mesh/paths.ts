/** Paths of the mesh on a node (no imports: the firewall and bootstrap use them too). */
export const DEFAULT_MESH_ROOT = '/var/lib/bulwark/mesh';
/** The member list, under the mesh root. */
export const MEMBERS_FILE = 'members.json';
/** The template unit bootstrap installs for wireguard-go (units/bulwark-wireguard-go@.service). */
export const WIREGUARD_GO_UNIT_FILE = '/etc/systemd/system/bulwark-wireguard-go@.service';
