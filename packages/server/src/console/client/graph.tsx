// Who talks to whom: agents as nodes, edges with their accepted and refused counts (refused
// attempts drawn red and dashed). The layout is d3-force's, computed when the set of nodes or
// edges changes (not animated); an edge table below says the same for keyboards and screen
// readers. Each node is a button: it filters the verdict stream by that agent.
import { useMemo, useRef } from 'preact/hooks';
import { forceCenter, forceCollide, forceLink, forceManyBody, forceSimulation, forceX, forceY } from 'd3-force';
import type { SimulationLinkDatum, SimulationNodeDatum } from 'd3-force';
import { Head } from './table.js';
import { vis } from './types.js';

export interface GraphEdge {
  sender: string;
  destination: string;
  accepted: number;
  rejected: number;
}

interface Node extends SimulationNodeDatum {
  id: string;
}

const W = 840;
const H = 470;

export function Graph(props: { agents: string[]; edges: GraphEdge[]; onAgent: (id: string) => void }) {
  const places = useRef(new Map<string, { x: number; y: number }>());
  const ids = useMemo(() => {
    const s = new Set(props.agents);
    for (const e of props.edges) {
      s.add(e.sender);
      s.add(e.destination);
    }
    return [...s].sort();
  }, [props.agents, props.edges]);
  const shape = `${ids.join(',')}|${props.edges.map((e) => `${e.sender}>${e.destination}`).join(',')}`;
  const layout = useMemo(() => {
    const nodes: Node[] = ids.map((id, i) => {
      const p = places.current.get(id);
      const a = (2 * Math.PI * i) / Math.max(1, ids.length);
      return { id, x: p?.x ?? W / 2 + 180 * Math.cos(a), y: p?.y ?? H / 2 + 150 * Math.sin(a) };
    });
    const links: SimulationLinkDatum<Node>[] = props.edges.filter((e) => e.sender !== e.destination).map((e) => ({ source: e.sender, target: e.destination }));
    const sim = forceSimulation(nodes)
      .force(
        'link',
        forceLink<Node, SimulationLinkDatum<Node>>(links)
          .id((d) => d.id)
          .distance(190),
      )
      .force('charge', forceManyBody().strength(-900))
      .force('center', forceCenter(W / 2, H / 2))
      // agents that talk to nobody stay in view instead of drifting to the edges
      .force('x', forceX(W / 2).strength(0.03))
      .force('y', forceY(H / 2).strength(0.06))
      .force('collide', forceCollide(64))
      .stop();
    sim.tick(200);
    const m = new Map<string, { x: number; y: number }>();
    for (const n of nodes) m.set(n.id, { x: Math.max(60, Math.min(W - 60, n.x ?? 0)), y: Math.max(34, Math.min(H - 54, n.y ?? 0)) });
    places.current = m;
    return m;
    // the layout changes only with the graph's shape (ids and edges), not with its counts
  }, [shape]);
  const refusedBy = new Map<string, number>();
  for (const e of props.edges) refusedBy.set(e.sender, (refusedBy.get(e.sender) ?? 0) + e.rejected);
  const n = (k: number, one: string, many: string) => `${k} ${k === 1 ? one : many}`;
  const label = `${n(ids.length, 'agent', 'agents')}, ${n(props.edges.length, 'edge', 'edges')}, ${props.edges.filter((e) => e.rejected).length} with refused attempts`;
  return (
    <figure class="graph">
      <figcaption class="muted">{label}; refused attempts are red and dashed. Select an agent for its verdicts.</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H}>
        <title>{`Graph: ${label}`}</title>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" class="arrow" />
          </marker>
          <marker id="arrow-refused" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" class="arrow refused" />
          </marker>
        </defs>
        {props.edges.map((e) => {
          const a = layout.get(e.sender);
          const b = layout.get(e.destination);
          if (!a || !b || e.sender === e.destination) return null;
          const dx = b.x - a.x;
          const dy = b.y - a.y;
          const len = Math.hypot(dx, dy) || 1;
          const r = 26;
          const x1 = a.x + (dx / len) * r;
          const y1 = a.y + (dy / len) * r;
          const x2 = b.x - (dx / len) * (r + 4);
          const y2 = b.y - (dy / len) * (r + 4);
          const refused = e.rejected > 0;
          return (
            <g key={`${e.sender}>${e.destination}`} class={refused ? 'edge refused' : 'edge'}>
              <title>{`${vis(e.sender, 64)} → ${vis(e.destination, 80)}: ${e.accepted} accepted, ${e.rejected} refused`}</title>
              <line x1={x1} y1={y1} x2={x2} y2={y2} marker-end={refused ? 'url(#arrow-refused)' : 'url(#arrow)'} />
              {refused ? (
                <text x={(x1 + x2) / 2} y={(y1 + y2) / 2 - 6} class="edge-label">
                  ✕ {e.rejected}
                </text>
              ) : null}
            </g>
          );
        })}
        {ids.map((id) => {
          const p = layout.get(id);
          if (!p) return null;
          const refused = refusedBy.get(id) ?? 0;
          return (
            // biome-ignore lint/a11y/useSemanticElements: an SVG group cannot be a <button>; it has the role, a name and keys
            <g
              key={id}
              class={refused ? 'node refused' : 'node'}
              transform={`translate(${p.x},${p.y})`}
              tabindex={0}
              role="button"
              aria-label={`${vis(id, 64)}${refused ? `, ${refused} refused attempts` : ''}: show its verdicts`}
              onClick={() => props.onAgent(id)}
              onKeyDown={(ev) => {
                if (ev.key === 'Enter' || ev.key === ' ') {
                  ev.preventDefault();
                  props.onAgent(id);
                }
              }}
            >
              <circle r="24" />
              <text y="42" class="node-label">
                {vis(id, 24)}
              </text>
            </g>
          );
        })}
      </svg>
      <table class="edges">
        <caption>Edges (the same graph as a table)</caption>
        <Head cols={['from', 'to', 'accepted', 'refused']} />
        <tbody>
          {props.edges.map((e) => (
            <tr key={`${e.sender}>${e.destination}`} class={e.rejected ? 'refused' : ''}>
              <td>{vis(e.sender, 64)}</td>
              <td>{vis(e.destination, 80)}</td>
              <td>{e.accepted}</td>
              <td>{e.rejected}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
