/** The one structured logger (Powertools, JSON to stdout); never given whole events or tokens. */
import { Logger } from '@aws-lambda-powertools/logger';
import { readLogLevel } from './config.ts';

// Read at load like the rest of the config: an unknown FQ_LOG_LEVEL fails the cold start.
export const logger = new Logger({ serviceName: 'fairqueue', logLevel: readLogLevel() });
