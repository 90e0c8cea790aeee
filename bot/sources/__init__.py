"""Sources: fetch feeds over HTTP and turn their bodies into `Entry` values.

    fetch.Fetcher.fetch(FetchRequest)  → Fetched | NotModified | FetchFailed   (the only I/O)
    feeds.parse_feed(source_id, body)  → ParsedFeed(title, link, [Entry])       (pure)
    entries.*                          cleaning and identity helpers            (pure)
    safety.check_url_allowed(url)      refuse feed URLs that point inside our network

Import the submodules directly: this package imports nothing, so pure code that needs only
`feeds` or `entries` does not pull in httpx.
"""
