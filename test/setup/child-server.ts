import type { ChildProcess } from 'node:child_process';

/**
 * Resolves once a spawned server says it listens ("Switchboard is running at …" on stdout): a signal,
 * not a poll. Rejects, with what it printed, if it exits first or says nothing within `timeoutMs`.
 */
export function untilListening(proc: ChildProcess, output: () => string, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      proc.stdout?.off('data', onData);
      proc.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    const onData = () => output().includes('Switchboard is running at') && done();
    const onExit = (code: number | null) => done(new Error(`server exited ${code}: ${output()}`));
    const timer = setTimeout(() => done(new Error(`server did not start: ${output()}`)), timeoutMs);
    proc.stdout?.on('data', onData);
    proc.once('exit', onExit);
    onData();
  });
}
