// placeholder: written by the store helper
export {};
