/**
 * The deployment files stay consistent with the server: the Kubernetes manifests (probe paths
 * and ports against the config they ship, selectors, security context, grace period against
 * the drain time) and the systemd unit (systemd-analyze verify where available). Offline: a
 * client-side `kubectl apply --dry-run` needs an API server, so the manifests are rendered with
 * `kubectl kustomize` (offline) when kubectl is installed, and checked structurally here.
 */
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfigText } from "../../src/config/load.ts";

const REPO = path.resolve(import.meta.dir, "../..");
const K8S = path.join(REPO, "deploy/kubernetes");
const CI = process.env.CI === "true" || process.env.CI === "1";

type Obj = Record<string, any>; // manifests are untyped YAML
const load = (f: string): Obj => Bun.YAML.parse(fs.readFileSync(path.join(K8S, f), "utf8")) as Obj;

function which(cmd: string): string | null {
  const r = Bun.spawnSync(["sh", "-c", `command -v ${cmd}`], { stdout: "pipe" });
  return r.exitCode === 0 ? r.stdout.toString().trim() : null;
}

/** What the mounted Secret holds in the tests (the cluster's is created by the operator). */
const SECRET_TOKEN = "test-token-from-the-secret-0123";
/** Files the pod sees: only the admin token, at the Secret's mount. */
const podFiles = new Map([["/run/secrets/dreamserver/token", SECRET_TOKEN + "\n"]]);

/** The shipped config, validated as the server would (its static root exists only in the image). */
function shippedConfig() {
  const text = fs.readFileSync(path.join(K8S, "dreamserver.toml"), "utf8");
  const r = loadConfigText(text, path.join(K8S, "dreamserver.toml"), {
    cpus: 2,
    fs: { dir: (p: string) => ({ real: p }), readFile: (p: string) => (podFiles.has(p) ? { text: podFiles.get(p)! } : { error: "not in the pod" }) },
  });
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  return r.config;
}

describe("Kubernetes manifests", () => {
  const dep = load("deployment.yaml");
  const svc = load("service.yaml");
  const pdb = load("pdb.yaml");
  const hpa = load("hpa.yaml");
  const pod = dep.spec.template.spec;
  const c = pod.containers[0];
  const port = (name: string) => c.ports.find((p: Obj) => p.name === name)?.containerPort;

  test("kinds and API versions", () => {
    expect([dep.kind, dep.apiVersion]).toEqual(["Deployment", "apps/v1"]);
    expect([svc.kind, svc.apiVersion]).toEqual(["Service", "v1"]);
    expect([pdb.kind, pdb.apiVersion]).toEqual(["PodDisruptionBudget", "policy/v1"]);
    expect([hpa.kind, hpa.apiVersion]).toEqual(["HorizontalPodAutoscaler", "autoscaling/v2"]);
  });

  test("probe paths and ports match the config the pods load", () => {
    const config = shippedConfig();
    expect(config.admin).not.toBeNull();
    expect(port("admin")).toBe(config.admin!.port);
    // kubelet probes come from the node: the admin listener must not be loopback-only.
    expect(["0.0.0.0", "::"]).toContain(config.admin!.hostname);
    expect(config.sites.flatMap((s) => s.listen.map((a) => a.port))).toContain(port("http"));
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "admin" });
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "admin" });
    expect(c.startupProbe.httpGet).toEqual({ path: "/healthz", port: "admin" });
    expect(svc.spec.ports.map((p: Obj) => p.targetPort)).toEqual(["http"]);
    expect(c.args).toEqual(["--config", "/etc/dreamserver/dreamserver.toml"]);
    expect(c.volumeMounts).toContainEqual({ name: "config", mountPath: "/etc/dreamserver", readOnly: true });
  });

  test("zero-drop rolling updates: several replicas, readiness first, a grace period longer than the drain", () => {
    const config = shippedConfig();
    expect(dep.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(dep.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(config.shutdownDelayMs).toBeGreaterThan(0);
    const drainS = (config.shutdownDelayMs + config.timeouts.shutdownMs) / 1000;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(drainS);
    expect(c.lifecycle.preStop).toBeDefined();
    expect(config.workers).toBe(1);
  });

  test("selectors match the pod labels; PDB and HPA target the Deployment", () => {
    const labels = dep.spec.template.metadata.labels;
    expect(dep.spec.selector.matchLabels).toEqual(labels);
    expect(svc.spec.selector).toEqual(labels);
    expect(pdb.spec.selector.matchLabels).toEqual(labels);
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: dep.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
  });

  test("the admin token comes from a mounted Secret: no token in the config, token_file inside the Secret's mount", () => {
    const config = shippedConfig();
    const text = fs.readFileSync(path.join(K8S, "dreamserver.toml"), "utf8");
    expect(text).not.toMatch(/^\s*token\s*=/m);
    expect(config.adminToken).toBe(SECRET_TOKEN);
    const file = config.adminTokenFile!;
    const vol = pod.volumes.find((v: Obj) => v.secret !== undefined);
    expect(vol.secret).toMatchObject({ secretName: "dreamserver-admin", optional: false });
    const mount = c.volumeMounts.find((m: Obj) => m.name === vol.name);
    // A directory mount (no subPath): the kubelet updates the file when the Secret changes.
    expect(mount.subPath).toBeUndefined();
    expect(mount.readOnly).toBe(true);
    const item = vol.secret.items.find((i: Obj) => path.join(mount.mountPath, i.path) === file);
    expect(item).toBeDefined();
    // Readable by the non-root user: the group is fsGroup and the mode lets the group read.
    expect(pod.securityContext.fsGroup).toBe(pod.securityContext.runAsGroup);
    expect(vol.secret.defaultMode).toBe(0o440);
    // No Secret manifest with a value is shipped.
    for (const f of fs.readdirSync(K8S)) expect(fs.readFileSync(path.join(K8S, f), "utf8")).not.toMatch(/^kind:\s*Secret/m);
  });

  test("non-root, read-only root, no capabilities", () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
  });

  test("kubectl kustomize renders them, with a hash-named ConfigMap the Deployment mounts", () => {
    const kubectl = which("kubectl");
    if (!kubectl) {
      if (CI) throw new Error("kubectl is missing; .ci/run installs kubernetes-client");
      console.warn("[deploy] skipping the kustomize render: kubectl not found (apt-get install kubernetes-client)");
      return;
    }
    const r = Bun.spawnSync([kubectl, "kustomize", K8S], { stdout: "pipe", stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    const docs = r.stdout
      .toString()
      .split(/^---$/m)
      .map((d) => Bun.YAML.parse(d) as Obj);
    const cm = docs.find((d) => d.kind === "ConfigMap")!;
    expect(cm.metadata.name).toMatch(/^dreamserver-[a-z0-9]{10}$/);
    expect(cm.data["dreamserver.toml"]).toBe(fs.readFileSync(path.join(K8S, "dreamserver.toml"), "utf8"));
    const rendered = docs.find((d) => d.kind === "Deployment")!;
    expect(rendered.spec.template.spec.volumes[0].configMap.name).toBe(cm.metadata.name);
    // kubectl reads the Secret's file mode as we do.
    expect(rendered.spec.template.spec.volumes.find((v: Obj) => v.secret)?.secret.defaultMode).toBe(0o440);
  });
});

describe("systemd unit", () => {
  const unit = fs.readFileSync(path.join(REPO, "deploy/systemd/dreamserver.service"), "utf8");

  test("signals, stop timeout, sandboxing and directories", () => {
    for (const line of [
      "ExecReload=/bin/kill -HUP $MAINPID",
      "KillSignal=SIGTERM",
      "AmbientCapabilities=CAP_NET_BIND_SERVICE",
      "ProtectSystem=strict",
      "LogsDirectory=dreamserver",
      "StateDirectory=dreamserver",
      "ConfigurationDirectory=dreamserver",
      "DynamicUser=yes",
    ]) {
      expect(unit).toContain(line + "\n");
    }
    // Longer than the default drain (shutdown_delay 0 s + timeouts.shutdown 10 s).
    expect(Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)![1])).toBeGreaterThan(10);
  });

  test("systemd-analyze verify accepts it", () => {
    const sa = which("systemd-analyze");
    if (!sa) {
      console.warn("[deploy] skipping systemd-analyze verify: not installed");
      return;
    }
    // verify checks that the executables exist: point them at one that does.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-unit-"));
    try {
      const f = path.join(dir, "dreamserver.service");
      fs.writeFileSync(f, unit.replaceAll("/usr/local/bin/dreamserver", "/bin/true"));
      const r = Bun.spawnSync([sa, "verify", f], { stdout: "pipe", stderr: "pipe" });
      expect(r.stderr.toString()).toBe("");
      expect(r.exitCode).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the logrotate snippet reopens the log with SIGUSR1", () => {
    const lr = fs.readFileSync(path.join(REPO, "deploy/systemd/dreamserver.logrotate"), "utf8");
    expect(lr).toContain("--signal=SIGUSR1");
    expect(lr).toContain("/var/log/dreamserver/");
  });
});
