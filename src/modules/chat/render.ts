import MarkdownIt from 'markdown-it';
import sanitizeHtml from 'sanitize-html';

/**
 * The one renderer of chat text: a small Markdown subset (emphasis, strong,
 * strikethrough, inline code, code blocks, block quotes, lists, links,
 * autolinks) to HTML, then an explicit sanitize-html allowlist over the result.
 * Raw HTML in the text is never HTML (`html: false`: it is escaped), and the
 * allowlist is the second wall should the Markdown parser ever emit something
 * unexpected. Links keep only http(s) and mailto targets and always carry
 * rel="noopener nofollow ugc".
 */
const markdown = new MarkdownIt('zero', { html: false, linkify: true, breaks: true })
  .enable(['emphasis', 'strikethrough', 'backticks', 'fence', 'code', 'blockquote', 'list', 'link', 'linkify', 'autolink', 'newline', 'escape', 'entity']);

// markdown-it's own link check refuses javascript:, vbscript:, file: and data:; ours is narrower still.
const SAFE_LINK = /^(https?:\/\/|mailto:)/i;
markdown.validateLink = (url: string) => SAFE_LINK.test(url.trim());

const REL = 'noopener nofollow ugc';

const policy: sanitizeHtml.IOptions = {
  allowedTags: ['p', 'br', 'strong', 'em', 's', 'code', 'pre', 'blockquote', 'ul', 'ol', 'li', 'a'],
  allowedAttributes: { a: ['href', 'rel'], ol: ['start'] },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesAppliedToAttributes: ['href'],
  allowProtocolRelative: false,
  disallowedTagsMode: 'escape',
  // Every link gets the rel of user-generated content, whatever the input said.
  transformTags: {
    a: (tagName, attribs) => ({ tagName, attribs: { ...(attribs.href ? { href: attribs.href } : {}), rel: REL } }),
  },
  exclusiveFilter: (frame) => frame.tag === 'a' && !frame.attribs.href,
};

/** The HTML a client may insert as is, for a message's stored text. */
export function renderMessage(text: string): string {
  return sanitizeHtml(markdown.render(text), policy).trim();
}
