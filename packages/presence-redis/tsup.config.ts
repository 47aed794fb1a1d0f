import { parleyTsup } from "../../tsup.config.base.js";

export default parleyTsup();
