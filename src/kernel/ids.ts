// The one UUID check lives in db/ (the lowest layer that needs it, for tenant
// contexts); everything above the kernel takes it from here.
export { isUuid } from '../db/ids.ts';
