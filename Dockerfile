# syntax=docker/dockerfile:1
# One image for the five services: they share nearly all their code, so one build serves all; the
# container command picks the service (e.g. `services/sync/dist/main.js`).
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json ./
# npm ci runs the root postinstall, which patches a dependency bug (see the script).
COPY scripts/patch-dependencies.mjs ./scripts/patch-dependencies.mjs
COPY proto ./proto
COPY packages ./packages
COPY services ./services
COPY scripts/healthcheck.mjs ./scripts/healthcheck.mjs
RUN npm ci --no-audit --no-fund \
 && npx tsc -b packages/cli services/network services/node-manager services/sync services/state-delta services/gc \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf packages/*/test services/*/test

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    HTTP_HOST=0.0.0.0 \
    NODE_HOME=/var/lib/cnode
WORKDIR /app
COPY --from=build /app /app
RUN mkdir -p /var/lib/cnode && chown node:node /var/lib/cnode
USER node
# libp2p, admin gRPC, health/metrics of network, node-manager, state-delta, sync, gc
EXPOSE 2428 2528 9101 9102 9103 9104 9105
ENTRYPOINT ["node"]
CMD ["services/node-manager/dist/main.js"]
