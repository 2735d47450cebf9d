/** Stylesheets come in as their text (esbuild's `text` loader; see local/client-bundle.ts). */
declare module '*.css' {
  const text: string;
  export default text;
}
