/**
 * The demo catalog seeded by `npm start`: movies, series with numbered episodes, and products
 * with categories and SKUs. Invented titles; structured metadata (director, cast, brand, ...).
 */
import { asItemRef } from '../subgraphs/recommendations/src/domain/catalog.js';
import type { CatalogItem } from '../subgraphs/recommendations/src/domain/catalog.js';
import type { ItemRef } from '../lib/contracts/event.js';

interface SeriesSpec {
  id: string;
  title: string;
  genres: string[];
  episodes: string[];
  director: string;
  releaseYear: number;
}

const SERIES: SeriesSpec[] = [
  {
    id: 'harbor-files',
    title: 'The Harbor Files',
    genres: ['Crime', 'Drama'],
    episodes: ['Low Tide', 'The Ledger', 'Fog Line', 'Night Ferry', 'Salt and Ash', 'Dry Dock'],
    director: 'Mara Lindqvist',
    releaseYear: 2024,
  },
  {
    id: 'cold-ledger',
    title: 'Cold Ledger',
    genres: ['Crime', 'Thriller'],
    episodes: ['Opening Balance', 'Shell Company', 'Audit', 'Offshore', 'Closing Entry'],
    director: 'Dev Okafor',
    releaseYear: 2023,
  },
  {
    id: 'flatmates',
    title: 'Flatmates',
    genres: ['Comedy'],
    episodes: ['Moving Day', 'The Rota', 'Housewarming', 'Deposit', 'The Landlord', 'Lease End'],
    director: 'Priya Raman',
    releaseYear: 2025,
  },
  {
    id: 'office-hours',
    title: 'Office Hours',
    genres: ['Comedy', 'Drama'],
    episodes: ['First Lecture', 'Tenure Track', 'Midterms', 'Faculty Party', 'Finals'],
    director: 'Tom Achebe',
    releaseYear: 2022,
  },
  {
    id: 'orbit-nine',
    title: 'Orbit Nine',
    genres: ['Sci-Fi', 'Thriller'],
    episodes: ['Launch Window', 'Dead Reckoning', 'Blackout', 'Reentry'],
    director: 'Lena Vogt',
    releaseYear: 2025,
  },
  {
    id: 'deep-blue-atlas',
    title: 'Deep Blue Atlas',
    genres: ['Documentary'],
    episodes: ['The Shelf', 'Twilight Zone', 'Trenches', 'Vents'],
    director: 'Ana Sousa',
    releaseYear: 2021,
  },
];

const MOVIES: Array<[id: string, title: string, genres: string[], director: string, year: number]> = [
  ['m-last-witness', 'The Last Witness', ['Crime', 'Thriller'], 'Dev Okafor', 2022],
  ['m-blind-alley', 'Blind Alley', ['Crime', 'Drama'], 'Mara Lindqvist', 2019],
  ['m-dead-drop', 'Dead Drop', ['Crime', 'Action'], 'Jonas Berg', 2021],
  ['m-the-fence', 'The Fence', ['Crime', 'Comedy'], 'Priya Raman', 2023],
  ['m-laugh-track', 'Laugh Track', ['Comedy'], 'Tom Achebe', 2020],
  ['m-wedding-crashers-club', 'The Wedding Crashers Club', ['Comedy', 'Romance'], 'Priya Raman', 2024],
  ['m-second-chances', 'Second Chances', ['Romance', 'Drama'], 'Eva Marsh', 2018],
  ['m-paper-moon-bakery', 'Paper Moon Bakery', ['Comedy', 'Family'], 'Tom Achebe', 2022],
  ['m-red-horizon', 'Red Horizon', ['Sci-Fi', 'Action'], 'Lena Vogt', 2023],
  ['m-quiet-signal', 'Quiet Signal', ['Sci-Fi', 'Drama'], 'Lena Vogt', 2020],
  ['m-glass-city', 'Glass City', ['Sci-Fi', 'Thriller'], 'Jonas Berg', 2025],
  ['m-river-kings', 'River Kings', ['Documentary'], 'Ana Sousa', 2019],
  ['m-high-altitude', 'High Altitude', ['Documentary', 'Adventure'], 'Ana Sousa', 2024],
  ['m-iron-tide', 'Iron Tide', ['Action', 'Adventure'], 'Jonas Berg', 2021],
  ['m-midnight-train', 'Midnight Train', ['Thriller', 'Mystery'], 'Mara Lindqvist', 2024],
  ['m-hollow-point', 'Hollow Point', ['Crime', 'Mystery'], 'Dev Okafor', 2025],
  ['m-tiny-giants', 'Tiny Giants', ['Animation', 'Family'], 'Yuki Tanaka', 2023],
  ['m-star-pilots', 'Star Pilots', ['Animation', 'Sci-Fi'], 'Yuki Tanaka', 2021],
  ['m-the-long-summer', 'The Long Summer', ['Drama'], 'Eva Marsh', 2022],
  ['m-stand-up-tonight', 'Stand-Up Tonight', ['Comedy'], 'Tom Achebe', 2025],
];

const PRODUCTS: Array<[id: string, title: string, category: string, sku: string, brand: string, price: number]> = [
  ['p-aurora-headphones', 'Aurora Noise-Cancelling Headphones', 'Electronics/Audio', 'AUR-HP-100', 'Aurora', 199],
  ['p-aurora-earbuds', 'Aurora Sport Earbuds', 'Electronics/Audio', 'AUR-EB-200', 'Aurora', 89],
  ['p-pulse-speaker', 'Pulse Bluetooth Speaker', 'Electronics/Audio', 'PLS-SP-10', 'Pulse', 59],
  ['p-nimbus-tablet', 'Nimbus 11" Tablet', 'Electronics/Tablets', 'NMB-TB-11', 'Nimbus', 349],
  ['p-nimbus-stylus', 'Nimbus Stylus', 'Electronics/Accessories', 'NMB-ST-01', 'Nimbus', 49],
  ['p-brew-pour-over', 'Brewline Pour-Over Kettle', 'Home/Kitchen', 'BRW-KT-05', 'Brewline', 45],
  ['p-brew-grinder', 'Brewline Burr Grinder', 'Home/Kitchen', 'BRW-GR-07', 'Brewline', 129],
  ['p-brew-beans', 'Brewline Single-Origin Beans 1kg', 'Grocery/Coffee', 'BRW-BN-1K', 'Brewline', 32],
  ['p-trail-backpack', 'Ridge Trail Backpack 30L', 'Outdoor/Bags', 'RDG-BP-30', 'Ridge', 110],
  ['p-trail-bottle', 'Ridge Insulated Bottle', 'Outdoor/Accessories', 'RDG-BT-75', 'Ridge', 29],
  ['p-crime-box-set', 'The Harbor Files: Collector Box Set', 'Media/Box Sets', 'HRB-BOX-1', 'Harbor Studios', 59],
  ['p-comedy-book', 'Flatmates: The Script Book', 'Books/Comedy', 'FLM-BK-01', 'Harbor Studios', 24],
  ['p-mystery-novel', 'Fog Line: A Novel', 'Books/Crime', 'BK-FOG-01', 'Northwind Press', 18],
  ['p-sci-fi-novel', 'Orbit Nine: Origins', 'Books/Sci-Fi', 'BK-ORB-01', 'Northwind Press', 21],
];

export function episodeId(seriesId: string, episode: number): string {
  return `ep-${seriesId}-${episode}`;
}

function buildCatalog(): CatalogItem[] {
  const items: CatalogItem[] = [];
  for (const s of SERIES) {
    items.push({
      id: `series-${s.id}`,
      kind: 'SERIES',
      title: s.title,
      genres: s.genres,
      releaseYear: s.releaseYear,
      metadata: { director: s.director, episodes: s.episodes.length },
    });
    s.episodes.forEach((title, i) =>
      items.push({
        id: episodeId(s.id, i + 1),
        kind: 'EPISODE',
        title: `${s.title} · E${i + 1} · ${title}`,
        genres: s.genres,
        seriesId: `series-${s.id}`,
        episode: i + 1,
        releaseYear: s.releaseYear,
        metadata: { director: s.director, seriesTitle: s.title, season: 1, runtimeMinutes: 42 + ((i * 7) % 15) },
      }),
    );
  }
  for (const [id, title, genres, director, year] of MOVIES) {
    items.push({ id, kind: 'MOVIE', title, genres, releaseYear: year, metadata: { director, runtimeMinutes: 95 + (year % 30) } });
  }
  for (const [id, title, category, sku, brand, price] of PRODUCTS) {
    items.push({ id, kind: 'PRODUCT', title, genres: [], category, sku, metadata: { brand, price } });
  }
  return items;
}

export const DEMO_CATALOG: readonly CatalogItem[] = buildCatalog();

export function demoItem(id: string): CatalogItem {
  const item = DEMO_CATALOG.find((i) => i.id === id);
  if (!item) throw new Error(`no demo item ${id}`);
  return item;
}

/** A demo item as an event references it. */
export const demoItemRef = (id: string): ItemRef => asItemRef(demoItem(id));

/** Every demo movie as an event references it (benchmarks cycle through them). */
export const DEMO_MOVIE_REFS: readonly ItemRef[] = DEMO_CATALOG.filter((i) => i.kind === 'MOVIE').map(asItemRef);
