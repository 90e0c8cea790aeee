"""News-API search sources: each signal's query sent to GDELT, Google News, NewsAPI or the Guardian.

    config.SearchConfig                      one configured search source (endpoint, key, quota,
                                             min_interval)
    translate.translate_for(dialect, query)  our query language → an API's syntax, never narrower
    forms                                    which words a prefix* stands for, which plurals occur
    adapter.SearchAdapter                    what an API is (a Protocol); adapters.ADAPTERS by type
    gdelt / google_news / newsapi / guardian one ApiAdapter each (ADAPTER), all pure:
        translate(query_text)                    → Translation(text, broadened, dropped)
        build_request(config, signal_id, query_text, since, now)
                                                 → SearchRequest(signal_id, url, headers)
        parse(config, request, fetched, now)     → [Entry]   (ParseError / SourceError)
        describe_failure(failed)                 → one readable line
        next_page(config, request, fetched)      → the next page's request, or None (GDELT,
                                                   NewsAPI, Guardian; Google has no pages)
    pacing.Pacer, pacing.QuotaLedger         global per-API spacing (+ margin, held again as a
                                             request leaves); daily request quotas
    reference, reach                         each API's syntax read as documented; what a search
                                             returns vs. what its signal matches (search-reach)
    runner.run_search(...)                   the only I/O: per signal, its window, up to
                                             MAX_PAGES paced and counted requests
                                             → SearchOutcome

Where a signal's query cannot be said in an API's syntax (NOT, regexes, prefixes, nested
groups, numbers our matcher folds), the API is asked something broader and our own matcher
decides, so an API search never hides an item our matcher would have alerted on.

Import the submodules directly: this package imports nothing, so pure code stays free of httpx.
"""
