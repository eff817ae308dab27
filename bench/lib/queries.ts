/** Operations the benchmarks send. */

/** The home page: profile fields, the ranked row with item fields, the user's assignment. */
export const HOME_QUERY = `query Home($id: ID!) { user(id: $id) { id profile { version genreAffinities { key score } } recommendedFor(limit: 10) { items { item { id title kind genres } reasons } } assignment(experimentKey: "realtime-ranking") { variant } } }`;
