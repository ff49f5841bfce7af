import type { admin } from '@cnode/proto';

/** A node event as application frontends receive it: `{contextId, type, data}` (upstream's NodeEvent). */
export interface AppNodeEvent {
  contextId: string;
  type: 'StateMutation' | 'ExecutionEvent';
  data: unknown;
}

/**
 * The frontend events of one node event. A state mutation is a `StateMutation` with the new root
 * and the application's events (the current upstream shape); when the application emitted events,
 * an `ExecutionEvent` with them follows (the shape that clients of the 2024 API switch on).
 * Events of other kinds (joins, sync status) are not for frontends.
 */
export function appEventsOf(event: admin.NodeEvent): AppNodeEvent[] {
  if (event.event?.$case !== 'stateMutation') return [];
  const mutation = event.event.stateMutation;
  const events = mutation.events.map((e) => ({
    kind: e.kind,
    data: [...e.data],
    handler: e.handler ?? null,
  }));
  const out: AppNodeEvent[] = [
    {
      contextId: event.contextId,
      type: 'StateMutation',
      data: {
        newRoot: mutation.rootHash,
        deltaId: mutation.deltaId,
        author: mutation.author,
        local: mutation.local,
        events: events.length > 0 ? events : null,
      },
    },
  ];
  if (events.length > 0) {
    out.push({
      contextId: event.contextId,
      type: 'ExecutionEvent',
      data: { events: events.map(({ kind, data }) => ({ kind, data })) },
    });
  }
  return out;
}
