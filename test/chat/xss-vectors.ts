/**
 * XSS vectors sent as chat messages (issue #14: at least 100, covering event
 * handlers, javascript: URLs in every attribute, SVG/MathML, encoded and
 * mixed-case variants, unclosed tags, Markdown link tricks). `BEACON` is the URL
 * of the test's local beacon server; `alert(1)` opens a dialog. A vector that
 * works makes a request, opens a dialog or navigates.
 */
const js = [`alert(1)`, `fetch('BEACON')`, `location='BEACON'`];

const handlers = ['onerror', 'onload', 'onmouseover', 'onfocus', 'onclick', 'ontoggle', 'onanimationstart', 'onpointerenter'];
const tags = ['img src=x', 'svg', 'body', 'iframe', 'video src=x', 'details open', 'input autofocus', 'div', 'a href=#', 'marquee', 'audio src=x', 'object data=x'];

const generated: string[] = [];
// Event handlers on many tags, quoted and unquoted, mixed case.
tags.forEach((tag, i) => {
  const h = handlers[i % handlers.length]!;
  const code = js[i % js.length]!;
  generated.push(`<${tag} ${h}=${code}>`);
  generated.push(`<${tag.toUpperCase()} ${h.toUpperCase()}="${code}">`);
});

// javascript: in every URL-bearing attribute.
const urlAttributes = [
  ['a', 'href'], ['iframe', 'src'], ['form><button', 'formaction'], ['form', 'action'], ['object', 'data'], ['embed', 'src'],
  ['video', 'poster'], ['table', 'background'], ['base', 'href'], ['link rel=import', 'href'], ['svg><a', 'xlink:href'],
  ['math', 'href'], ['isindex', 'action'], ['input type=image', 'src'], ['area', 'href'], ['frame', 'src'],
] as const;
for (const [tag, attr] of urlAttributes) generated.push(`<${tag} ${attr}="javascript:alert(1)">x</${tag.split(/[ >]/)[0]}>`);

const handWritten = [
  // Scripts and unclosed tags.
  `<script>alert(1)</script>`, `<script src=BEACON></script>`, `<ScRiPt>alert(1)</sCrIpT>`, `<script>alert(1)`, `<img src=x onerror=alert(1)//`,
  `<svg onload=alert(1)`, `<iframe src=javascript:alert(1)`, `<a href="javascript:alert(1)`, `<img src="x" onerror="alert(1)"`, `<<script>alert(1)//<</script>`,
  `<scr<script>ipt>alert(1)</scr</script>ipt>`, `<img/src=x/onerror=alert(1)>`, `<img src=x onerror\t=alert(1)>`, `<img\nsrc=x\nonerror=alert(1)>`,
  `<style>@import 'BEACON';</style>`, `<div style="background:url(BEACON)">x</div>`, `<div style="width:expression(alert(1))">x</div>`,
  `<meta http-equiv="refresh" content="0;url=BEACON">`, `<iframe srcdoc="<script>alert(1)</script>"></iframe>`, `<object data="data:text/html,<script>alert(1)</script>"></object>`,
  `<embed src="data:image/svg+xml,<svg onload=alert(1)>">`, `<form><input type=submit formaction=javascript:alert(1)>`, `<isindex type=image src=1 onerror=alert(1)>`,
  `<template><img src=x onerror=alert(1)></template>`, `<noscript><p title="</noscript><img src=x onerror=alert(1)>">`, `<textarea></textarea><img src=x onerror=alert(1)>`,
  `<title></title><img src=x onerror=alert(1)>`, `<xmp><img src=x onerror=alert(1)></xmp>`, `<!--><img src=x onerror=alert(1)>-->`, `<![CDATA[><img src=x onerror=alert(1)>]]>`,
  // SVG and MathML.
  `<svg><script>alert(1)</script></svg>`, `<svg><animate onbegin=alert(1) attributeName=x dur=1s>`, `<svg><set attributeName=onmouseover to=alert(1)>`,
  `<svg><a xlink:href="javascript:alert(1)"><text x=20 y=20>x</text></a></svg>`, `<svg><use href="data:image/svg+xml,<svg id=x onload=alert(1)>#x"></use></svg>`,
  `<svg><foreignObject><img src=x onerror=alert(1)></foreignObject></svg>`, `<svg><style><img src=x onerror=alert(1)></style></svg>`,
  `<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`, `<math href="javascript:alert(1)">x</math>`, `<math><maction actiontype=statusline xlink:href=javascript:alert(1)>x</maction></math>`,
  `<math><mi xlink:href="data:x,<script>alert(1)</script>">x</mi></math>`, `<svg><image href=x onerror=alert(1)>`, `<svg><feImage href=BEACON />`,
  // Encoded and mixed-case javascript: URLs.
  `<a href="JaVaScRiPt:alert(1)">x</a>`, `<a href="&#106;avascript:alert(1)">x</a>`, `<a href="&#x6A;&#x61;&#x76;&#x61;script:alert(1)">x</a>`,
  `<a href="java&#x09;script:alert(1)">x</a>`, `<a href="java&#x0A;script:alert(1)">x</a>`, `<a href=" &#14; javascript:alert(1)">x</a>`, `<a href="%6Aavascript:alert(1)">x</a>`,
  `<a href="javascript&colon;alert(1)">x</a>`, `<a href="vbscript:msgbox(1)">x</a>`, `<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>`,
  `<a href="\\u006aavascript:alert(1)">x</a>`, `<a href="//BEACON">x</a>`, `&lt;img src=x onerror=alert(1)&gt;`, `&#60;img src=x onerror=alert(1)&#62;`,
  // Markdown link tricks.
  `[x](javascript:alert(1))`, `[x](JAVASCRIPT:alert(1))`, `[x](JaVaScRiPt:alert(1))`, `[x](&#106;avascript:alert(1))`, `[x](java\\nscript:alert(1))`,
  `[x](<javascript:alert(1)>)`, `[x]( javascript:alert(1))`, `[x](javascript&colon;alert(1))`, `[x](data:text/html,<script>alert(1)</script>)`, `[x](vbscript:msgbox(1))`,
  `<javascript:alert(1)>`, `[x](https://example.com "onmouseover=alert(1)")`, `[x](https://example.com"onmouseover="alert(1))`, `[x](https://example.com' onmouseover='alert(1))`,
  `[x][1]\n\n[1]: javascript:alert(1)`, `[x][1]\n\n[1]: <javascript:alert(1)> "t"`, `![x](javascript:alert(1))`, `![x](BEACON)`, `![x](x "y" onerror=alert(1))`,
  `[<img src=x onerror=alert(1)>](https://example.com)`, `[x](https://example.com)<img src=x onerror=alert(1)>`, '`<script>alert(1)</script>`',
  '```html\n<script>alert(1)</script>\n```', `**<img src=x onerror=alert(1)>**`, `> <svg onload=alert(1)>`, `- <iframe src=javascript:alert(1)>`,
  `[x](javascript:%61lert(1))`, `[x](\\javascript:alert(1))`, `[x](javascript:alert(1)"onclick="alert(1))`, `[a](https://example.com)[b](javascript:alert(1))`,
  `https://example.com/"onmouseover="alert(1)`, `www.example.com/<img src=x onerror=alert(1)>`, `mailto:x@example.com?body=<script>alert(1)</script>`,
  `[x](mailto:javascript:alert(1))`, `[x](ftp://BEACON)`, `[x](file:///etc/passwd)`,
];

export const xssVectors: readonly string[] = [...new Set([...handWritten, ...generated])];
