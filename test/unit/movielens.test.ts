import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ML_100K_GENRES,
  detectFormat,
  movieItemId,
  readMovies,
  readRatings,
} from '../../subgraphs/recommendations/src/catalog/movielens.js';

let root: string;
let latestDir: string;
let ml100kDir: string;
let emptyDir: string;
let partialDir: string;

/** A u.item line: id|title|release date|video release date|IMDb URL|19 genre flags. */
function uItemLine(id: number, title: string, genres: readonly string[]): string {
  const flags = ML_100K_GENRES.map((g) => (genres.includes(g) ? '1' : '0'));
  return [String(id), title, '01-Jan-1995', '', 'http://us.imdb.com/x', ...flags].join('|');
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'movielens-test-'));

  latestDir = join(root, 'ml-latest-small');
  mkdirSync(latestDir);
  writeFileSync(
    join(latestDir, 'movies.csv'),
    [
      'movieId,title,genres',
      '1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy',
      '2,"American President, The (1995)",Comedy|Drama|Romance',
      '3,Untitled Project,(no genres listed)',
      '4,"Quote ""Me"" (2001)",Drama',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(latestDir, 'ratings.csv'),
    [
      'userId,movieId,rating,timestamp',
      '1,2,4.0,964982703',
      '1,1,3.5,964981247',
      '2,3,5.0,964983815',
      '2,1,0.5,964981247',
      '',
    ].join('\n'),
  );

  ml100kDir = join(root, 'ml-100k');
  mkdirSync(ml100kDir);
  const items = [
    uItemLine(1, 'Toy Story (1995)', ['Animation', 'Children', 'Comedy']),
    uItemLine(2, 'Café (1994)', ['Drama']),
    uItemLine(3, 'unknown', ['unknown']),
    '',
  ].join('\n');
  writeFileSync(join(ml100kDir, 'u.item'), Buffer.from(items, 'latin1'));
  writeFileSync(
    join(ml100kDir, 'u.data'),
    ['196\t2\t3\t881250949', '186\t1\t5\t881250940', '22\t3\t1\t891717742', '196\t1\t4\t881250949', ''].join('\n'),
  );

  emptyDir = join(root, 'empty');
  mkdirSync(emptyDir);
  partialDir = join(root, 'partial');
  mkdirSync(partialDir);
  writeFileSync(join(partialDir, 'ratings.csv'), 'userId,movieId,rating,timestamp\n');
  writeFileSync(join(partialDir, 'u.item'), '');
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('detectFormat', () => {
  it('recognizes both layouts', () => {
    expect(detectFormat(latestDir)).toBe('ml-latest');
    expect(detectFormat(ml100kDir)).toBe('ml-100k');
  });

  it('throws a clear error for a directory with neither layout', () => {
    expect(() => detectFormat(emptyDir)).toThrow(/neither ratings\.csv \+ movies\.csv .*nor u\.data \+ u\.item/);
    expect(() => detectFormat(emptyDir)).toThrow(emptyDir);
    // Half of each layout is not a layout either.
    expect(() => detectFormat(partialDir)).toThrow(/neither/);
    expect(() => readMovies(emptyDir)).toThrow(/neither/);
    expect(() => readRatings(join(root, 'does-not-exist'))).toThrow(/neither/);
  });
});

describe('ml-latest layout', () => {
  it('reads movies with ids, titles without year, release years and genres', () => {
    const movies = readMovies(latestDir);
    expect(movies).toEqual([
      {
        id: 'ml-1',
        kind: 'MOVIE',
        title: 'Toy Story',
        releaseYear: 1995,
        genres: ['Adventure', 'Animation', 'Children', 'Comedy', 'Fantasy'],
        metadata: { movieLensId: '1' },
      },
      {
        id: 'ml-2',
        kind: 'MOVIE',
        title: 'American President, The',
        releaseYear: 1995,
        genres: ['Comedy', 'Drama', 'Romance'],
        metadata: { movieLensId: '2' },
      },
      { id: 'ml-3', kind: 'MOVIE', title: 'Untitled Project', genres: [], metadata: { movieLensId: '3' } },
      {
        id: 'ml-4',
        kind: 'MOVIE',
        title: 'Quote "Me"',
        releaseYear: 2001,
        genres: ['Drama'],
        metadata: { movieLensId: '4' },
      },
    ]);
    expect(movies[2]).not.toHaveProperty('releaseYear');
    expect(readMovies(latestDir, 'ml-latest')).toEqual(movies);
  });

  it('reads ratings sorted by time with millisecond timestamps (ties keep file order)', () => {
    expect(readRatings(latestDir)).toEqual([
      { userId: '1', itemId: 'ml-1', rating: 3.5, at: 964981247000 },
      { userId: '2', itemId: 'ml-1', rating: 0.5, at: 964981247000 },
      { userId: '1', itemId: 'ml-2', rating: 4, at: 964982703000 },
      { userId: '2', itemId: 'ml-3', rating: 5, at: 964983815000 },
    ]);
  });
});

describe('ml-100k layout', () => {
  it('reads Latin-1 u.item with genre flags', () => {
    const movies = readMovies(ml100kDir);
    expect(movies).toEqual([
      {
        id: 'ml-1',
        kind: 'MOVIE',
        title: 'Toy Story',
        releaseYear: 1995,
        genres: ['Animation', 'Children', 'Comedy'],
        metadata: { movieLensId: '1' },
      },
      { id: 'ml-2', kind: 'MOVIE', title: 'Café', releaseYear: 1994, genres: ['Drama'], metadata: { movieLensId: '2' } },
      // The 'unknown' flag is not a genre.
      { id: 'ml-3', kind: 'MOVIE', title: 'unknown', genres: [], metadata: { movieLensId: '3' } },
    ]);
  });

  it('reads tab-separated u.data sorted by time with millisecond timestamps', () => {
    expect(readRatings(ml100kDir)).toEqual([
      { userId: '186', itemId: 'ml-1', rating: 5, at: 881250940000 },
      { userId: '196', itemId: 'ml-2', rating: 3, at: 881250949000 },
      { userId: '196', itemId: 'ml-1', rating: 4, at: 881250949000 },
      { userId: '22', itemId: 'ml-3', rating: 1, at: 891717742000 },
    ]);
  });

  it('item ids match the rating item ids', () => {
    const ids = new Set(readMovies(ml100kDir).map((m) => m.id));
    for (const r of readRatings(ml100kDir)) expect(ids.has(r.itemId)).toBe(true);
    expect(movieItemId('42')).toBe('ml-42');
  });
});
