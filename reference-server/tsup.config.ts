import { parleyTsup } from "../tsup.config.base.js";

// An application, not a library: one entry, no type declarations.
export default parleyTsup(["src/main.ts"], { dts: false });
