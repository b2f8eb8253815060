/**
 * The types of @serialport/bindings-interface, in one place. The package publishes its types only under the
 * "require" export condition, so an ES module imports them with the `resolution-mode` attribute, which the emitted
 * .d.ts files keep (users of the published types resolve them too). Biome cannot parse that attribute, so this file
 * alone is left out of biome.json; everything else imports the types from here.
 */
export type { BindingInterface, BindingPortInterface, OpenOptions, PortInfo } from '@serialport/bindings-interface' with {
  'resolution-mode': 'require',
};
export type { PortStatus, SetOptions, UpdateOptions } from '@serialport/bindings-interface' with {
  'resolution-mode': 'require',
};
