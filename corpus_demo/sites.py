"""Web sites: domains, servers, menus and footers, and the URLs of their pages."""
from __future__ import annotations

import random
from dataclasses import dataclass

from corpus_demo.config import DemoConfig, rng_for
from model import synthetic

SERVERS = ("nginx", "nginx/1.14.0 (Ubuntu)", "Apache", "Apache/2.4.29 (Ubuntu)", "cloudflare",
           "Microsoft-IIS/10.0", "LiteSpeed", "openresty")
TLDS = ("com", "com", "com", "org", "net", "io", "co.uk", "de", "info", "blog")
SITE_SUFFIXES = ("notes", "daily", "hub", "blog", "times", "review", "journal", "press", "world", "digest",
                 "weekly", "lab", "corner", "insider")
NAV_LABELS = ("Home", "News", "Blog", "Articles", "Reviews", "Guides", "Tutorials", "Events", "Shop",
              "Forum", "About", "Contact", "Archive", "Topics", "Podcast", "Newsletter", "Jobs", "Help")
SECTIONS = ("blog", "news", "articles", "guides", "posts", "tech", "learn", "opinion", "stories", "docs")
SPAM_KEYWORDS = ("cheap", "best", "buy", "online", "discount", "free shipping", "deal", "sale", "replica",
                 "watches", "shoes", "pills", "casino", "bonus", "loans", "fast", "top rated", "outlet",
                 "coupon", "wholesale", "luxury", "bags", "official store", "lowest price", "2020")


@dataclass(frozen=True)
class Site:
    domain: str
    name: str
    ip: str
    server: str
    nav: tuple[str, ...]
    footer: tuple[str, ...]
    template: int  # 0 blog, 1 news, 2 docs-like: different markup, same kinds of boilerplate
    scheme: str
    www: bool


def make_sites(config: DemoConfig, count: int, spammy: bool = False) -> list[Site]:
    rng = rng_for(config, "spam-sites" if spammy else "sites")
    words = [w for w in synthetic.word_list() if len(w) <= 9]
    sites, domains = [], set()
    while len(sites) < count:
        if spammy:
            parts = rng.sample(SPAM_KEYWORDS[:20], 3)
            domain = "-".join(p.replace(" ", "-") for p in parts) + "." + rng.choice(("info", "biz", "top", "xyz"))
            name = " ".join(p.title() for p in parts)
        else:
            first, suffix = rng.choice(words), rng.choice(SITE_SUFFIXES)
            domain = f"{first}{suffix}.{rng.choice(TLDS)}"
            name = f"{first.title()} {suffix.title()}"
        if domain in domains:
            continue
        domains.add(domain)
        sites.append(Site(
            domain=domain, name=name,
            ip=f"{rng.randrange(23, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            server=rng.choice(SERVERS),
            nav=tuple(rng.sample(NAV_LABELS, rng.randrange(5, 10))),
            footer=tuple(rng.sample(("About us", "Contact", "Privacy policy", "Terms of use", "Cookie settings",
                                     "Advertise", "Careers", "Sitemap", "RSS", "Imprint", "Accessibility"),
                                    rng.randrange(4, 9))),
            template=rng.randrange(3), scheme=rng.choice(("https", "https", "http")), www=rng.random() < 0.4,
        ))
    return sites


def slug(title: str) -> str:
    return "-".join("".join(c for c in word.lower() if c.isalnum()) for word in title.split())[:60].strip("-")


def page_url(site: Site, title: str, rng: random.Random) -> str:
    host = ("www." if site.www else "") + site.domain
    style = rng.randrange(4)
    if style == 0:
        path = f"/{rng.choice(SECTIONS)}/2019/{rng.randrange(1, 13):02d}/{slug(title)}/"
    elif style == 1:
        path = f"/{rng.choice(SECTIONS)}/{slug(title)}-{rng.randrange(10**4, 10**6)}.html"
    elif style == 2:
        path = f"/p/{rng.randrange(10**5, 10**7)}"
    else:
        path = f"/index.php?option=com_content&view=article&id={rng.randrange(10**5)}"
    return f"{site.scheme}://{host}{path}"
