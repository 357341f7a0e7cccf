/**
 * The tests' common dataset: the Seattle weather series of vega-datasets (1,461 days), imported as
 * forecasting windows. One definition, so that a test says only how its windows differ.
 */
const SEATTLE_WEATHER = {
  source: 'npm:vega-datasets/seattle-weather.csv',
  name: 'weather',
  kind: 'timeseries',
  timeColumn: 'date',
  valueColumns: ['temp_max', 'temp_min', 'precipitation', 'wind'],
  targetColumn: 'temp_max',
  window: 14,
  horizon: 1,
  normalize: 'last-value',
  valFraction: 0.2,
} as const;

type Widen<T> = { -readonly [K in keyof T]: T[K] extends readonly (infer E)[] ? E[] : T[K] };

/** Import options for `importDataset` (from the repository root `cwd`), with `over` applied. */
export function seattleWeatherImport<O extends object = object>(
  cwd: string,
  over?: O,
): Widen<typeof SEATTLE_WEATHER> & { cwd: string } & O {
  return {
    ...SEATTLE_WEATHER,
    valueColumns: [...SEATTLE_WEATHER.valueColumns],
    cwd,
    ...(over ?? ({} as O)),
  };
}
