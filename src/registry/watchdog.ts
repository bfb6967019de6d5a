// The stall watchdog: a registry that stops sending (or stops reading) fails the request with a
// clear message instead of hanging the build forever.

/**
 * An idle timeout for one fetch: armed while the request body is sent and while waiting for the
 * answer, re-armed by every request chunk pulled and every response chunk read.
 */
export function idleWatch(ms: number) {
  const ctl = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      ctl.abort(new Error(`no data from the registry for ${ms / 1000} s`));
    }, ms);
    // A response body nobody reads must not keep the process alive.
    (timer as { unref?: () => void }).unref?.();
  };
  const stop = () => timer && clearTimeout(timer);
  const why = () => new Error(`timed out: no data from the registry for ${ms / 1000} s`);
  arm();
  return {
    signal: ctl.signal,
    request(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
      return body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ transform: (c, out) => (arm(), out.enqueue(c)) }));
    },
    async guard(p: Promise<Response>): Promise<Response> {
      try {
        return await p;
      } catch (e) {
        stop();
        throw timedOut ? why() : e;
      }
    },
    response(res: Response): Response {
      if (!res.body || [101, 204, 205, 304].includes(res.status)) {
        stop();
        return res;
      }
      arm();
      const reader = res.body.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          try {
            const { done, value } = await reader.read();
            if (done) {
              stop();
              c.close();
            } else {
              arm();
              c.enqueue(value);
            }
          } catch (e) {
            stop();
            c.error(timedOut ? why() : e);
          }
        },
        cancel(reason) {
          stop();
          return reader.cancel(reason);
        },
      });
      const out = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
      Object.defineProperty(out, "url", { value: res.url });
      return out;
    },
  };
}
