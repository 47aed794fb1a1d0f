import DefaultTheme from "vitepress/theme";
import "./custom.css";

/** The default theme, with wider pages for the snippets (up to 110 columns). */
export default DefaultTheme;
