/** Entry of `npm run simulate`: the shared logger reads FQ_LOG_LEVEL as it loads, so set it first. */
export {};

process.env.FQ_LOG_LEVEL ??= 'SILENT';
await import('./cli.ts');
