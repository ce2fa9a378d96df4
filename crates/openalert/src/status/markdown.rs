//! Markdown for postmortems, rendered so that nothing in it can run: raw HTML is shown as text,
//! links keep only http(s) and mailto addresses, images become links.

use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd, html};

fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("mailto:")
        || lower.starts_with('#')
}

pub fn to_html(markdown: &str) -> String {
    let events = Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    )
    .map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: if safe_url(&dest_url) {
                dest_url
            } else {
                CowStr::Borrowed("#")
            },
            title,
            id,
        }),
        Event::Start(Tag::Image {
            dest_url,
            title,
            id,
            ..
        }) => Event::Start(Tag::Link {
            link_type: LinkType::Inline,
            dest_url: if safe_url(&dest_url) {
                dest_url
            } else {
                CowStr::Borrowed("#")
            },
            title,
            id,
        }),
        Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn markdown_renders_and_nothing_runs() {
        let html = to_html("# Cause\n\n**Disk** full. See [runbook](https://example.com/r).");
        assert!(html.contains("<h1>Cause</h1>"));
        assert!(html.contains("<strong>Disk</strong>"));
        assert!(html.contains("href=\"https://example.com/r\""));
        let hostile = to_html(
            "<script>alert(1)</script>\n\n[x](javascript:alert(1)) ![i](data:text/html,hi) \
             <img src=x onerror=alert(1)>",
        );
        assert!(!hostile.contains("<script"), "{hostile}");
        assert!(!hostile.contains("<img"), "{hostile}");
        assert!(!hostile.contains("javascript:"), "{hostile}");
        assert!(!hostile.contains("data:"), "{hostile}");
        assert!(hostile.contains("&lt;script&gt;"), "{hostile}");
    }
}
