# The agentbus image: the verifier and the auditor (one image, the command picks the role).
# npm workspaces: the lock file and every package.json first (a layer that changes only with the
# dependencies), then the sources; the runtime stage keeps node_modules and the built packages.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/protocol/package.json packages/protocol/
COPY packages/sdk/package.json packages/sdk/
COPY packages/server/package.json packages/server/
COPY tools/api-docs/package.json tools/api-docs/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/packages ./packages
COPY --from=build /app/package.json ./package.json
USER node
ENTRYPOINT ["node", "/app/packages/server/dist/cli/index.js"]
CMD ["--help"]
