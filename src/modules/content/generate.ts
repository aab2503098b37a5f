import { isKernelError } from '../../kernel/errors.ts';
import { EgressFailedError } from '../../kernel/egress/index.ts';
import type { Platform } from '../../kernel/platform.ts';
import { replaceFindings, scan, type RedactionSummary } from '../../kernel/redact/index.ts';
import { buildPrompt, type PromptInput } from './prompt.ts';
import { estimateTokens } from './provider-port.ts';
import { createProvidersService } from './providers.ts';
import { applyContentRules } from './rules.ts';
import { createSettingsService, type ContentSettings } from './settings.ts';
import { createUsageMeter } from './usage.ts';

export interface GenerateInput extends PromptInput {
  providerId?: string | undefined;
  maxTokens?: number | undefined;
  /** Extra system text from the calling module (e.g. the insight answer format). */
  system?: string | undefined;
}

export interface Generated {
  /** The output: scanned, placeholders restored, content rules applied. */
  text: string;
  /** The prompt exactly as it left (redacted): what may be stored if the tenant allows. */
  sentPrompt: string;
  providerId: string | null;
  promptTokens: number;
  completionTokens: number;
  redaction: RedactionSummary;
  settings: ContentSettings;
}

export const DEFAULT_MAX_TOKENS = 800;

/**
 * One model call, with every guard on the way out and back:
 * 1. the prompt is built: secrets removed, personal data placeholders (or refused), tenant data delimited, size capped;
 * 2. the tenant's worst case is reserved against its daily quota (429 + Retry-After when it would cross it);
 * 3. the provider is called (egress guard, timeout); a failure refunds the reservation and stores nothing;
 * 4. the output is scanned — secrets removed, personal data the prompt did not carry masked — then the
 *    prompt's placeholders are restored and the tenant's content rules applied (blocked terms refuse).
 */
export function createGenerator(platform: Platform) {
  const settings = createSettingsService(platform);
  const providers = createProvidersService(platform);
  const meter = createUsageMeter(platform);

  return {
    async generate(tenantId: string, input: GenerateInput): Promise<Generated> {
      const s = await settings.get(tenantId);
      const prompt = buildPrompt(input, { pii: s.piiPolicy, scan: { phoneRegion: s.phoneRegion ?? undefined } }, input.system);
      const resolved = await providers.resolve(tenantId, input.providerId);
      const maxTokens = input.maxTokens ?? DEFAULT_MAX_TOKENS;
      const reserved = estimateTokens(prompt.system) + estimateTokens(prompt.user) + maxTokens;
      await meter.reserve(tenantId, reserved, s.dailyTokenQuota);
      let completion;
      try {
        completion = await resolved.provider.complete({ system: prompt.system, user: prompt.user, maxTokens });
      } catch (err) {
        await meter.settle(tenantId, reserved, 0);
        if (isKernelError(err)) throw err;
        platform.log.warn({ err: { message: (err as Error).message } }, 'content provider failed');
        throw new EgressFailedError('protocol', 'The model provider failed.');
      }
      const promptTokens = completion.promptTokens;
      const completionTokens = Math.min(completion.completionTokens, maxTokens * 4);
      await meter.settle(tenantId, reserved, promptTokens + completionTokens);

      // Whatever the model returns is scanned like a prompt: a secret never comes back, and personal
      // data it was not given (it may have invented or remembered some) is masked, not restored.
      const raw = completion.text.slice(0, 200_000);
      const cleaned = replaceFindings(raw, scan(raw, { phoneRegion: s.phoneRegion ?? undefined }), (f) => `[redacted:${f.kind}]`);
      const text = applyContentRules(prompt.session.restore(cleaned), { blockedTerms: s.blockedTerms, requiredDisclaimer: s.requiredDisclaimer });
      return {
        text, sentPrompt: `${prompt.system}\n\n${prompt.user}`, providerId: resolved.id, promptTokens, completionTokens,
        redaction: prompt.session.summary, settings: s,
      };
    },
  };
}

