/** Topic families, for metric labels (never the topic itself). */
export enum TopicKind {
  /** A context's topic: the base58 context id. */
  Context = 'context',
  /** A group's topic: `group/<hex32>`. */
  Group = 'group',
  Other = 'other',
}

const BASE58 = /^[1-9A-HJ-NP-Za-km-z]{32,50}$/;
const GROUP = /^group\/[0-9a-f]{64}$/;

export function topicKind(topic: string): TopicKind {
  if (GROUP.test(topic)) return TopicKind.Group;
  if (BASE58.test(topic)) return TopicKind.Context;
  return TopicKind.Other;
}
