#!/usr/bin/env python3
"""HTTP measurements for bench/semantic.sh against a running robot.

usage: semantic_bench.py PORT DOMAIN TOKEN_500 TOKEN_10K PID

  query latency   GET /api/v1/semantic-search, one keep-alive connection, sequential,
                  distinct queries (so nothing is answered from a cache), on the 500-page
                  wiki (bench500) and the 10k-chunk wiki (bench10k): p50/p99 in ms
  write→search    PUT a new page through /api/v1/pages, then poll semantic search (every
                  10 ms) until that page is the top hit: p50/p99 in ms over 20 pages
  RSS             VmRSS of the server (model loaded, indexes loaded) in MiB
Prints key=value lines.
"""
import http.client, json, random, statistics, sys, time, urllib.parse

port, domain, tok500, tok10k, pid = sys.argv[1:6]
port = int(port)

WORDS = ("agent model memory index vector search query token wiki page note research "
         "result method data figure table claim evidence source protocol server client cache "
         "latency throughput replica shard graph embedding chunk window context retrieval "
         "ranking score experiment baseline ablation dataset benchmark metric").split()


def conn():
    return http.client.HTTPConnection("127.0.0.1", port, timeout=60)


def call(c, slug, token, method, path, body=None):
    headers = {"Host": f"{slug}.{domain}", "Authorization": f"Bearer {token}"}
    if body is not None:
        body = json.dumps(body)
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def query_latency(slug, token, n=300):
    rng = random.Random(11)
    c = conn()
    queries = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) for _ in range(n)]
    for q in queries[:20]:  # warm: the index is loaded on first use
        call(c, slug, token, "GET", "/api/v1/semantic-search?q=" + urllib.parse.quote(q + " warm"))
    times = []
    for q in queries:
        t = time.perf_counter()
        res = call(c, slug, token, "GET", "/api/v1/semantic-search?n=5&q=" + urllib.parse.quote(q))
        times.append((time.perf_counter() - t) * 1000)
        assert res["results"], "semantic search returned nothing"
    return statistics.median(times), pct(times, 99)


TOPICS = [
    ("Volcanoes", "Magma rises through the crust and erupts as lava, ash and gas from the vent of a mountain."),
    ("Beekeeping", "The hive keeps a queen, workers gather nectar from flowers and the keeper harvests honey in late summer."),
    ("Sailing", "Trim the sails to the wind, keep the boat heeled a little and steer with the tiller toward the harbour."),
    ("Chess openings", "White moves the king's pawn two squares; black answers symmetrically and both sides develop knights."),
    ("Bread baking", "Knead the dough until it is elastic, let it rise twice and bake it in a very hot oven."),
    ("Glaciers", "Compacted snow turns to ice that flows slowly downhill, carving valleys and leaving moraines."),
    ("Photosynthesis", "Leaves capture sunlight with chlorophyll to turn carbon dioxide and water into sugar and oxygen."),
    ("Marathon training", "Build weekly mileage gradually, include one long run and taper before race day."),
    ("Origami", "Fold a single square sheet of paper into a crane without cutting or gluing it."),
    ("Coffee roasting", "Green beans turn yellow then brown; the first crack signals a light roast is ready."),
    ("Tides", "The moon's gravity pulls the oceans, raising high water twice a day along the coast."),
    ("Knitting", "Cast on stitches, alternate knit and purl rows, and bind off to finish the scarf."),
    ("Earthquakes", "Tectonic plates slip along a fault and release energy as seismic waves that shake the ground."),
    ("Composting", "Kitchen scraps and dry leaves decompose with air and moisture into rich soil for the garden."),
    ("Jazz improvisation", "Soloists invent melodies over the chord changes, trading phrases with the rhythm section."),
    ("Lighthouses", "A tall tower on the shore shines a rotating lamp to warn ships away from rocks at night."),
    ("Cheese making", "Warm milk curdles with rennet; the curds are pressed, salted and aged in a cool cellar."),
    ("Solar panels", "Photovoltaic cells convert daylight into electricity that an inverter feeds into the house."),
    ("Falconry", "The trained hawk returns to the handler's gloved fist after chasing prey across the field."),
    ("Pottery", "Shape wet clay on the spinning wheel, dry the pot, glaze it and fire it in the kiln."),
]
QUERIES = {
    "Volcanoes": "molten rock exploding from a mountain", "Beekeeping": "insects producing honey",
    "Sailing": "navigating a boat using wind", "Chess openings": "first moves of a board game",
    "Bread baking": "making a loaf at home", "Glaciers": "rivers of ice shaping valleys",
    "Photosynthesis": "how plants make food from light", "Marathon training": "preparing for a long running race",
    "Origami": "paper folding art", "Coffee roasting": "preparing beans for espresso",
    "Tides": "why the sea level rises and falls", "Knitting": "making clothes from yarn with needles",
    "Earthquakes": "ground shaking from moving plates", "Composting": "turning food waste into fertilizer",
    "Jazz improvisation": "musicians making up solos", "Lighthouses": "warning ships of danger at night",
    "Cheese making": "turning milk into an aged dairy product", "Solar panels": "electricity from sunlight on a roof",
    "Falconry": "hunting with birds of prey", "Pottery": "ceramics made on a wheel",
}


def write_to_searchable(slug, token):
    c = conn()
    lat = []
    for i, (title, text) in enumerate(TOPICS):
        name = f"Fresh/{title} {int(time.time())}"
        path = "/api/v1/pages/" + urllib.parse.quote(name)
        t = time.perf_counter()
        call(c, slug, token, "PUT", path, {"content": f"# {title}\n\n{text}\n", "commit_message": "bench"})
        q = "/api/v1/semantic-search?n=1&max_chunks_per_page=1&q=" + urllib.parse.quote(QUERIES[title])
        while True:
            res = call(c, slug, token, "GET", q)
            # Page names are normalised (title case), so compare without case.
            if res["results"] and res["results"][0]["name"].lower() == name.lower():
                break
            if time.perf_counter() - t > 60:
                raise SystemExit(f"{name} not searchable after 60 s: {res['results'][:1]}")
            time.sleep(0.01)
        lat.append((time.perf_counter() - t) * 1000)
    return statistics.median(lat), pct(lat, 99), len(lat)


def rss_mib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


print(f"rss_idle_mib={rss_mib():.0f}")
for slug, token in (("bench500", tok500), ("bench10k", tok10k)):
    p50, p99 = query_latency(slug, token)
    print(f"query_{slug}_p50_ms={p50:.2f}")
    print(f"query_{slug}_p99_ms={p99:.2f}")
p50, p99, n = write_to_searchable("bench500", tok500)
print(f"write_to_searchable_p50_ms={p50:.0f}")
print(f"write_to_searchable_p99_ms={p99:.0f}")
print(f"write_to_searchable_n={n}")
print(f"rss_after_mib={rss_mib():.0f}")
