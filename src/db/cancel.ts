import pg from 'pg';

interface Wire {
  connect(port: number, host: string): void;
  cancel(processID: number, secretKey: number): void;
  on(event: string, listener: () => void): void;
  end(): void;
}

/**
 * PostgreSQL's cancel request (protocol "CancelRequest"): a connection of its
 * own, outside the pool (so a pool whose every connection runs a long
 * statement can still cancel one), carrying the backend's key. The server
 * cancels whatever that backend runs now; an idle backend ignores it.
 */
export function cancelBackend(url: string, processID: number, secretKey: number): Promise<void> {
  const helper = new pg.Client({ connectionString: url });
  const wire = (helper as unknown as { connection: Wire }).connection;
  const { host, port } = helper as unknown as { host: string; port: number };
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2_000);
    timer.unref();
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    wire.on('connect', () => wire.cancel(processID, secretKey));
    wire.on('end', done);
    wire.on('error', done);
    if (host.startsWith('/')) (wire as unknown as { connect(path: string): void }).connect(`${host}/.s.PGSQL.${port}`);
    else wire.connect(port, host);
  });
}
