// A table's header row: one column heading each (scope="col"), shared by the console's tables.

export function Head(props: { cols: readonly string[] }) {
  return (
    <thead>
      <tr>
        {props.cols.map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}
