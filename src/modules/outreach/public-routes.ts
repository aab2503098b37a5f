import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { Platform } from '../../kernel/platform.ts';
import { createLinkService, type LinkOutcome } from './links.ts';
import { confirmPage, donePage, invalidPage, PAGE_HEADERS, refusedPage } from './pages.ts';

const TokenParams = {
  type: 'object',
  properties: { token: { type: 'string', minLength: 1, maxLength: 200 } },
  required: ['token'],
  additionalProperties: false,
} as const;

/**
 * The links in outreach mails, outside /api/v1 and without login:
 * `/u/{token}` unsubscribes and `/c/{token}` confirms a double opt-in. A GET
 * only shows a page with a button (link scanners and prefetchers open every
 * URL of a mail and must unsubscribe nobody); the POST acts. The POST of
 * /u/{token} is also RFC 8058's one-click target (`List-Unsubscribe=One-Click`,
 * form-encoded; no cookie, no login).
 */
export const outreachPublicRoutes: FastifyPluginAsync<{ platform: Platform }> = async (app, { platform }) => {
  const links = createLinkService(platform);
  const security = { policy: 'public' as const };

  // RFC 8058 §3.1: mailbox providers POST `List-Unsubscribe=One-Click` form-encoded (or as multipart).
  // Small bodies only; what they say does not matter beyond the one-click marker, the POST is the intent.
  for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data']) {
    app.addContentTypeParser(type, { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => done(null, String(body)));
  }

  const send = (reply: FastifyReply, status: number, html: string) => reply.code(status).headers(PAGE_HEADERS).send(html);
  const answer = (reply: FastifyReply, kind: 'unsubscribe' | 'confirm', outcome: LinkOutcome) => {
    if (outcome.status === 'invalid') return send(reply, 404, invalidPage());
    if (outcome.status === 'refused') return send(reply, 409, refusedPage(outcome.detail));
    return send(reply, 200, donePage(kind));
  };

  const tags = ['outreach'];
  // An HTML page, also for an invalid (404) or refused (409) link: a person reads it, not a client.
  const html = { description: 'An HTML page', content: { 'text/html': { schema: { type: 'string' } } } };
  const docs = {
    unsubscribe: { page: ['outreachUnsubscribePage', 'The unsubscribe page of a mail link: asks, changes nothing'], act: ['outreachUnsubscribe', 'Unsubscribe (RFC 8058 one-click POST or the page\'s button)'] },
    confirm: { page: ['outreachConfirmPage', 'The double opt-in page of a confirmation link: asks, changes nothing'], act: ['outreachConfirm', 'Confirm a double opt-in subscription'] },
  } as const;

  for (const [prefix, kind] of [['u', 'unsubscribe'], ['c', 'confirm']] as const) {
    app.get(`/${prefix}/:token`, {
      config: { security },
      schema: { tags, operationId: docs[kind].page[0], summary: docs[kind].page[1], params: TokenParams, response: { 200: html } },
    }, async (req, reply) => {
      const { token } = req.params as { token: string };
      const outcome = await links.inspect(kind, token);
      if (outcome.status !== 'ok') return answer(reply, kind, outcome);
      const { contact, sender } = outcome.target;
      // An erased contact: nothing to confirm, and an unsubscribe would change nothing.
      if (!contact) return kind === 'unsubscribe' ? send(reply, 200, donePage('unsubscribe')) : send(reply, 404, invalidPage());
      return send(reply, 200, confirmPage(kind, `/${prefix}/${token}`, contact.email, sender));
    });

    app.post(`/${prefix}/:token`, {
      config: { security },
      schema: { tags, operationId: docs[kind].act[0], summary: docs[kind].act[1], params: TokenParams, response: { 200: html } },
    }, async (req, reply) => {
      const { token } = req.params as { token: string };
      const body = typeof req.body === 'string' ? req.body : '';
      const outcome = kind === 'unsubscribe'
        ? await links.unsubscribe(token, /(?:^|&|\r?\n)List-Unsubscribe=One-Click(?:&|\r?\n|$)|name="List-Unsubscribe"\r?\n\r?\nOne-Click/.test(body))
        : await links.confirm(token);
      return answer(reply, kind, outcome);
    });
  }
};
