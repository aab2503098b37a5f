import { createHash } from 'node:crypto';

/** One model call: the system text, then the user's turn (tenant data inside it is delimited). */
export interface CompletionRequest {
  system: string;
  user: string;
  maxTokens: number;
}

export interface Completion {
  text: string;
  promptTokens: number;
  completionTokens: number;
}

/** The provider port: an OpenAI-compatible endpoint, or the offline provider of the embedded profile. */
export interface ContentProvider {
  complete(request: CompletionRequest): Promise<Completion>;
}

/** Tokens as the metering counts them when a provider does not say: ~4 characters each (OpenAI's rule of thumb), rounded up. */
export const estimateTokens = (text: string) => Math.ceil(text.length / 4);

/**
 * The offline provider: deterministic, no network, for the embedded profile and
 * for tests. It writes a draft from the instructions (the first line as a
 * heading, the rest as bullet points) and never follows anything inside the
 * delimited data, which it only counts.
 */
export function offlineProvider(): ContentProvider {
  return {
    async complete({ system, user, maxTokens }) {
      const instructions = user.split(/<data\b/)[0]!.trim();
      const sections = (user.match(/<data\b/g) ?? []).length;
      const lines = instructions.split(/\n+/).map((l) => l.trim()).filter(Boolean);
      const digest = createHash('sha256').update(system).update('\u0000').update(user).digest('hex').slice(0, 8);
      const body = [
        `# ${lines[0] ?? 'Draft'}`,
        ...lines.slice(1).map((l) => `- ${l}`),
        sections > 0 ? `(Based on ${sections} reference section${sections === 1 ? '' : 's'}.)` : '',
        `[offline draft ${digest}]`,
      ].filter(Boolean).join('\n');
      const text = body.slice(0, maxTokens * 4);
      return { text, promptTokens: estimateTokens(system) + estimateTokens(user), completionTokens: estimateTokens(text) };
    },
  };
}
