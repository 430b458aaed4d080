import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';

const exec = promisify(execFile);

function sink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines };
}

const isJson = (line: string) => {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
};

const SECRETS = {
  req: { headers: { authorization: 'Bearer sb_very_secret', cookie: 'sb.sid=s%3Acookie' } },
  user: { password: 'hunter2-hunter2' },
};

describe('createLogger', () => {
  it('when asked for pretty output, then it writes human lines, no JSON, and still redacts secrets', () => {
    const { stream, lines } = sink();
    const logger = createLogger('info', stream, { pretty: true });
    logger.info(SECRETS, 'Switchboard is listening');
    logger.warn({ key: { token: 'sb_another_secret' } }, 'database unavailable');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.filter(isJson)).toEqual([]);
    const text = lines.join('\n');
    expect(text).toMatch(/INFO.*Switchboard is listening/);
    expect(text).toMatch(/WARN.*database unavailable/);
    expect(text).toContain('[redacted]');
    for (const secret of ['sb_very_secret', 's%3Acookie', 'hunter2', 'sb_another_secret']) expect(text).not.toContain(secret);
    expect(text).not.toContain('\u001b['); // no colours when writing to a stream of its own
  });

  it('when given a destination and no option, then it writes JSON lines (for collectors and tests), redacted', () => {
    const { stream, lines } = sink();
    createLogger('info', stream).info(SECRETS, 'hello');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]);
    expect(line).toMatchObject({
      msg: 'hello',
      req: { headers: { authorization: '[redacted]', cookie: '[redacted]' } },
      user: { password: '[redacted]' },
    });
  });

  it('when stdout is a terminal, then the default is pretty; when it is piped, JSON', async () => {
    const program = `import { createLogger } from './src/logger.ts'; createLogger('info').info({ user: { password: 'hunter2' } }, 'ready');`;
    const piped = await exec(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program]);
    expect(JSON.parse(piped.stdout.trim())).toMatchObject({ msg: 'ready', user: { password: '[redacted]' } });
    // script(1) runs the command on a pseudo-terminal.
    const command = `${process.execPath} --import tsx --input-type=module -e "${program.replace(/"/g, '\\"')}"`;
    const tty = await exec('script', ['-qec', command, '/dev/null'], { env: { ...process.env, NO_COLOR: '1' } });
    const out = tty.stdout.replace(/\r/g, '').trim();
    expect(out).toMatch(/INFO.*ready/);
    expect(isJson(out)).toBe(false);
    expect(out).toContain('[redacted]');
    expect(out).not.toContain('hunter2');
  });
});
