/** The one structured logger (Powertools, JSON to stdout); never given whole events or tokens. */
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({
  serviceName: 'fairqueue',
  logLevel: (process.env.FQ_LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'SILENT' : 'INFO')) as 'INFO',
});
