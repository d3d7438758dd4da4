# Ferry server image. Build: docker build -t ferry .
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 FERRY_DATA_DIR=/data
COPY --from=build /app /app
VOLUME /data
EXPOSE 8080
CMD ["node", "apps/server/dist/main.js"]
