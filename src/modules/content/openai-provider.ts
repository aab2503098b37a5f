import type { Egress } from '../../kernel/egress/index.ts';
import { EgressFailedError } from '../../kernel/egress/index.ts';
import { estimateTokens, type ContentProvider } from './provider-port.ts';

/** A provider's answer that is not a chat completion: it failed, whatever its status says. */
const providerFailed = (detail: string) => new EgressFailedError('protocol', detail);

/** `<base>/chat/completions` of an OpenAI-compatible base URL (`https://api.openai.com/v1`, a local `…/v1`). */
export function completionsUrl(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/chat/completions`;
}

/**
 * OpenAI-compatible chat completions through the egress guard: the base URL is
 * checked on every call (DNS may have changed since it was configured), the
 * socket is pinned to the checked address, redirects are not followed, and the
 * whole exchange is bounded in time and size. Any non-2xx answer or malformed
 * body is a provider failure (502); the key goes only into the Authorization header.
 */
export function openAiCompatibleProvider(egress: Egress, config: { baseUrl: string; model: string; apiKey: string | null; timeoutMs: number }): ContentProvider {
  return {
    async complete({ system, user, maxTokens }) {
      const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
      if (config.apiKey) headers.authorization = `Bearer ${config.apiKey}`;
      const res = await egress.request(completionsUrl(config.baseUrl), {
        method: 'POST',
        headers,
        body: JSON.stringify({
          model: config.model,
          messages: [{ role: 'system', content: system }, { role: 'user', content: user }],
          max_tokens: maxTokens,
          temperature: 0.2,
          stream: false,
        }),
        timeoutMs: config.timeoutMs,
        maxResponseBytes: 1024 * 1024,
      });
      if (res.status < 200 || res.status > 299) throw providerFailed(`The model provider answered ${res.status}.`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(res.body.toString('utf8'));
      } catch {
        throw providerFailed('The model provider answered with something other than JSON.');
      }
      const body = parsed as { choices?: Array<{ message?: { content?: unknown } }>; usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } };
      const text = body.choices?.[0]?.message?.content;
      if (typeof text !== 'string') throw providerFailed('The model provider\'s answer has no message content.');
      const count = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 10_000_000 ? v : fallback);
      return {
        text,
        promptTokens: count(body.usage?.prompt_tokens, estimateTokens(system) + estimateTokens(user)),
        completionTokens: count(body.usage?.completion_tokens, estimateTokens(text)),
      };
    },
  };
}
