"""HTML templates: a realistic page around an Article (head, cookie banner, nav, comments, footer)."""
from __future__ import annotations

import hashlib
import html

from corpus_demo.articles import Article
from corpus_demo.sites import Site, slug


def _text(text: str) -> str:
    return html.escape(text, quote=False)


def _render_blocks(article: Article) -> str:
    out = []
    for kind, content in article.blocks:
        if kind == "p":
            out.append(f"<p>{_text(content)}</p>")
        elif kind == "h2":
            out.append(f"<h2>{_text(content)}</h2>")
        elif kind == "quote":
            out.append(f'<blockquote class="quiz"><p>{_text(content)}</p></blockquote>')
        elif kind == "table":
            header, *rows = content
            out.append('<table class="products"><thead><tr>' + "".join(f"<th>{_text(c)}</th>" for c in header)
                       + "</tr></thead><tbody>" + "".join(
                           "<tr>" + "".join(f"<td>{_text(c)}</td>" for c in row) + "</tr>" for row in rows)
                       + "</tbody></table>")
        elif kind == "ol":
            out.append('<ol class="numbers">' + "".join(f"<li>{_text(i)}</li>" for i in content) + "</ol>")
        elif kind == "tags":
            out.append('<div class="tag-cloud">' + " ".join(
                f'<a href="/tag/{t}" class="tag size-{len(t) % 5}">{_text(t)}</a>' for t in content) + "</div>")
    return "\n".join(out)


def _head(title: str, site: Site, description: str, charset_tag: str) -> str:
    digest = hashlib.blake2b(site.domain.encode(), digest_size=4).hexdigest()
    return f"""<head>
{charset_tag}
<title>{_text(title)} | {_text(site.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="description" content="{html.escape(description[:150])}">
<meta property="og:site_name" content="{html.escape(site.name)}">
<link rel="stylesheet" href="/static/css/main.{digest}.css">
<link rel="icon" href="/favicon.ico">
<style>body{{font-family:Georgia,serif;margin:0}}.cookie-banner{{position:fixed;bottom:0}}</style>
<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments);}}gtag('js',0);</script>
</head>"""


def _cookie_banner(site: Site) -> str:
    return (f'<div id="cookie-consent" class="cookie-banner"><p>We use cookies to improve your experience on '
            f'{_text(site.name)}. By continuing to browse you agree to our use of cookies.</p>'
            f'<button class="accept">Accept all</button> <a href="/cookie-policy">Learn more</a></div>')


def _nav(site: Site) -> str:
    items = "".join(f'<li><a href="/{label.lower()}/">{label}</a></li>' for label in site.nav)
    return (f'<header class="site-header"><a class="logo" href="/">{_text(site.name)}</a>'
            f'<nav class="main-nav" role="navigation"><ul class="menu">{items}</ul></nav>'
            f'<form class="search" action="/search"><input name="q" placeholder="Search"></form></header>')


def _footer(site: Site, heavy: bool = False) -> str:
    links = "".join(f'<li><a href="/{slug(label)}">{label}</a></li>' for label in site.footer)
    extra = ""
    if heavy:
        extra = ('<div class="newsletter"><h3>Subscribe to our newsletter</h3><p>Get the latest posts, deals '
                 'and updates delivered to your inbox every week. No spam, unsubscribe at any time.</p>'
                 '<form><input type="email" placeholder="Your email"><button>Subscribe</button></form></div>'
                 '<div class="social">Follow us on Twitter, Facebook, Instagram and LinkedIn.</div>')
    return (f'<footer class="site-footer">{extra}<ul class="footer-links">{links}</ul>'
            f'<p class="copyright">© 2020 {_text(site.name)}. All rights reserved.</p></footer>'
            f'<script src="/static/js/app.js" async></script>')


def _comments_html(article: Article) -> str:
    if not article.comments:
        return ""
    items = "".join(f'<li class="comment"><p class="comment-author">{_text(who)}</p><p>{_text(said)}</p></li>'
                    for who, said in article.comments)
    return (f'<section id="comments" class="comments"><h3>{len(article.comments)} comments</h3>'
            f'<ol class="comment-list">{items}</ol></section>')


def render_page(article: Article, site: Site, charset_tag: str = '<meta charset="utf-8">',
                heavy_boilerplate: bool = False, padding: str = "") -> str:
    """A realistic page: doctype, head, cookie banner, nav, the article, comments, footer, scripts."""
    byline = ""
    if article.author:
        byline = (f'<p class="byline">By <span class="author">{_text(article.author)}</span> · '
                  f'<time datetime="{article.published}">{article.published}</time></p>')
    heading = f"<h1>{_text(article.title)}</h1>" if article.title else ""
    body = f"{heading}\n{byline}\n<div class=\"entry-content\">\n{_render_blocks(article)}\n</div>"
    if site.template == 0:
        main = f'<main id="content"><article class="post">{body}</article>{_comments_html(article)}</main>'
    elif site.template == 1:
        main = (f'<div id="main" class="container"><div class="story-body">{body}</div>'
                f'{_comments_html(article)}</div>')
    else:
        main = (f'<div class="wrapper"><section class="content" role="main">{body}</section>'
                f'{_comments_html(article)}</div>')
    description = next((str(c) for k, c in article.blocks if k == "p"), article.title)
    return (f'<!DOCTYPE html>\n<html lang="en">\n{_head(article.title, site, description, charset_tag)}\n<body>\n'
            f'{_cookie_banner(site)}\n{_nav(site)}\n{main}\n{_footer(site, heavy_boilerplate)}\n{padding}'
            f'</body>\n</html>\n')


def render_app_shell(site: Site) -> str:
    """A JavaScript app shell: an empty mount point, a script and the footer's few words, no main text.

    trafilatura (defaults, or favor_precision) returns None for it; a visible nav menu or a <noscript>
    notice would be returned as "text", so the shell has neither. favor_recall keeps the copyright line.
    """
    return (f'<!DOCTYPE html>\n<html lang="en">\n{_head(site.name, site, site.name, "<meta charset=utf-8>")}\n'
            f'<body>\n<div id="root"></div>\n<script src="/static/js/main.{site.template}.js"></script>\n'
            f'{_footer(site)}\n</body>\n</html>\n')


def oversize_padding(target_bytes: int) -> str:
    """An inline JSON state blob, repetitive so the record gzips to a few KB."""
    item = '{"id":0,"name":"placeholder","price":0.0,"tags":["a","b"]},'
    return f"<script>window.__STATE__={{\"items\":[{item * (target_bytes // len(item) + 1)}{{}}]}};</script>\n"
