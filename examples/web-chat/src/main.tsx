import { createRoot } from "react-dom/client";
import { App } from "./App";
import "./styles.css";

const root = document.getElementById("root");
if (!root) throw new Error("unable to start the app; #root is missing");
createRoot(root).render(<App />);
