import { parleyTsup } from "../../tsup.config.base.js";

export default parleyTsup(["src/index.ts", "src/readme.ts"]);
