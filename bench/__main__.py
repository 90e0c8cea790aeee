"""`python -m bench`: run every benchmark and print its table."""

from bench import (
    bench_durability,
    bench_feedback,
    bench_match,
    bench_parse,
    bench_poll,
    bench_scale,
    bench_stories,
)

bench_match.main([])
print()
bench_stories.main([])
print()
bench_parse.main([])
print()
bench_poll.main([])
print()
bench_durability.main(["--polls", "300"])
print()
bench_scale.main([])
print()
bench_feedback.main(["--articles", "20000"])
