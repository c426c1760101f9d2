/** Running local programs for the lab (argv only, never a shell line). */
import { execFile } from 'node:child_process';
import { AppError } from '../errors.ts';

export function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new AppError('lab', `${cmd} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}
