/**
 * MovieLens readers for the two common layouts:
 * - ml-latest(-small): `movies.csv` (movieId,title,genres with `|`) and `ratings.csv`
 *   (userId,movieId,rating,timestamp in seconds);
 * - ml-100k: `u.item` (`|`-separated, Latin-1, 19 genre flags) and `u.data` (tab-separated).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { CatalogItem } from '../domain/catalog.js';

export type MovieLensFormat = 'ml-latest' | 'ml-100k';

export interface Rating {
  userId: string;
  itemId: string;
  rating: number;
  /** Epoch milliseconds. */
  at: number;
}

export const ML_100K_GENRES = [
  'unknown', 'Action', 'Adventure', 'Animation', 'Children', 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy',
  'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western',
] as const;

export function detectFormat(dir: string): MovieLensFormat {
  if (existsSync(join(dir, 'ratings.csv')) && existsSync(join(dir, 'movies.csv'))) return 'ml-latest';
  if (existsSync(join(dir, 'u.data')) && existsSync(join(dir, 'u.item'))) return 'ml-100k';
  throw new Error(`${dir} holds neither ratings.csv + movies.csv (ml-latest) nor u.data + u.item (ml-100k)`);
}

export const movieItemId = (movieId: string) => `ml-${movieId}`;

function splitTitle(raw: string): { title: string; releaseYear?: number } {
  const m = /^(.*?)\s*\((\d{4})\)\s*$/.exec(raw.trim());
  return m ? { title: m[1]!, releaseYear: Number(m[2]) } : { title: raw.trim() };
}

function movie(movieId: string, rawTitle: string, genres: string[]): CatalogItem {
  const { title, releaseYear } = splitTitle(rawTitle);
  return {
    id: movieItemId(movieId),
    kind: 'MOVIE',
    title,
    genres,
    ...(releaseYear !== undefined ? { releaseYear } : {}),
    metadata: { movieLensId: movieId },
  };
}

export function readMovies(dir: string, format: MovieLensFormat = detectFormat(dir)): CatalogItem[] {
  if (format === 'ml-latest') {
    const rows = parse(readFileSync(join(dir, 'movies.csv')), { columns: true, skip_empty_lines: true }) as Array<
      Record<string, string>
    >;
    return rows.map((r) =>
      movie(
        r['movieId']!,
        r['title']!,
        (r['genres'] ?? '').split('|').filter((g) => g && g !== '(no genres listed)'),
      ),
    );
  }
  const text = readFileSync(join(dir, 'u.item')).toString('latin1');
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim().length > 0)
    .map((line) => {
      const f = line.split('|');
      const flags = f.slice(5, 5 + ML_100K_GENRES.length);
      const genres = ML_100K_GENRES.filter((g, i) => flags[i] === '1' && g !== 'unknown');
      return movie(f[0]!, f[1] ?? '', [...genres]);
    });
}

/** Ratings sorted by time (ties keep file order). */
export function readRatings(dir: string, format: MovieLensFormat = detectFormat(dir)): Rating[] {
  const ratings: Rating[] = [];
  if (format === 'ml-latest') {
    const lines = readFileSync(join(dir, 'ratings.csv'), 'utf8').split(/\r?\n/);
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      if (!line) continue;
      const [userId, movieId, rating, ts] = line.split(',');
      ratings.push({ userId: userId!, itemId: movieItemId(movieId!), rating: Number(rating), at: Number(ts) * 1000 });
    }
  } else {
    for (const line of readFileSync(join(dir, 'u.data'), 'utf8').split(/\r?\n/)) {
      if (!line.trim()) continue;
      const [userId, movieId, rating, ts] = line.trim().split(/\t/);
      ratings.push({ userId: userId!, itemId: movieItemId(movieId!), rating: Number(rating), at: Number(ts) * 1000 });
    }
  }
  return ratings
    .map((r, i) => [r, i] as const)
    .sort((a, b) => a[0].at - b[0].at || a[1] - b[1])
    .map(([r]) => r);
}
