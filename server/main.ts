/** Process entry point: `node --import tsx server/main.ts <command> …`. */
import { main } from './cli.ts';

process.exitCode = await main(process.argv.slice(2));
