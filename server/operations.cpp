#include "server/operations.h"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>

#include "backend/backend_status.h"
#include "backend/cluster_topology.h"
#include "backend/fleet.h"
#include "backend/gate.h"
#include "backend/link.h"
#include "server/admin_page.h"

namespace tfproxy::server {
namespace {

using Clock = std::chrono::steady_clock;

// The header the admin page sends with every change (lower-case, as parsed).
constexpr char kAdminHeader[] = "x-tfproxy-admin";

// ---- INFO --------------------------------------------------------------------------------

// One "name:value" line of an INFO section.
void line(std::string* out, std::string_view name, const std::string& value) {
  out->append(name).append(":").append(value).append("\r\n");
}
template <class N>
void line(std::string* out, std::string_view name, N number) {
  line(out, name, std::to_string(number));
}

// INFO's dictionary values ("a=1,b=2") cannot hold ',', '=', ':' or line ends: a stream key
// or an error text is shown with those replaced.
std::string infoSafe(std::string_view text) {
  std::string out;
  for (char c : text) {
    out.push_back(c == ',' || c == '=' || c == ':' || c == '\r' || c == '\n' ? '_' : c);
  }
  return out;
}

uint64_t micros(const metrics::Histogram& h) { return h.sumMicros(); }

std::string perCall(const metrics::Histogram& h) {
  char buf[32];
  std::snprintf(
      buf, sizeof buf, "%.2f",
      h.count() == 0 ? 0.0 : static_cast<double>(h.sumMicros()) / static_cast<double>(h.count()));
  return buf;
}

// ---- Prometheus ----------------------------------------------------------------------------

std::string labelValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

using Labels = std::vector<std::pair<std::string_view, std::string>>;

std::string labelSet(const Labels& labels, std::string_view extra_name = {},
                     std::string_view extra_value = {}) {
  std::string out;
  auto add = [&](std::string_view name, std::string_view value) {
    out += out.empty() ? "{" : ",";
    out.append(name).append("=\"").append(labelValue(value)).append("\"");
  };
  for (const auto& [name, value] : labels) add(name, value);
  if (!extra_name.empty()) add(extra_name, extra_value);
  if (!out.empty()) out += "}";
  return out;
}

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

// Writes the families of one scrape: HELP and TYPE once per family, then its samples.
class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  }
  void sample(std::string_view name, const Labels& labels, double value) {
    out_.append(name).append(labelSet(labels)).append(" ").append(number(value)).append("\n");
  }
  void histogram(std::string_view name, const Labels& labels, const metrics::Histogram& h) {
    uint64_t cumulative = 0;
    const std::string bucket = std::string(name) + "_bucket";
    for (size_t i = 0; i < metrics::Histogram::kBounds.size(); ++i) {
      cumulative += h.bucket(i);
      out_.append(bucket)
          .append(labelSet(labels, "le", number(metrics::Histogram::kBounds[i])))
          .append(" ")
          .append(std::to_string(cumulative))
          .append("\n");
    }
    cumulative += h.bucket(metrics::Histogram::kBounds.size());
    out_.append(bucket).append(labelSet(labels, "le", "+Inf")).append(" ");
    out_.append(std::to_string(cumulative)).append("\n");
    out_.append(name).append("_sum").append(labelSet(labels)).append(" ");
    out_.append(number(h.sumSeconds())).append("\n");
    out_.append(name).append("_count").append(labelSet(labels)).append(" ");
    out_.append(std::to_string(cumulative)).append("\n");
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// ---- JSON ----------------------------------------------------------------------------------

std::string jsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

// A JSON object written field by field.
class JsonObject {
 public:
  JsonObject& field(std::string_view name, std::string_view raw_json) {
    out_ += out_.empty() ? "{" : ",";
    out_.append(jsonString(name)).append(":").append(raw_json);
    return *this;
  }
  JsonObject& text(std::string_view name, std::string_view value) {
    return field(name, jsonString(value));
  }
  JsonObject& num(std::string_view name, double value) { return field(name, number(value)); }
  JsonObject& flag(std::string_view name, bool value) {
    return field(name, value ? "true" : "false");
  }
  std::string done() const { return out_.empty() ? "{}" : out_ + "}"; }

 private:
  std::string out_;
};

std::string jsonArray(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
  return out + "]";
}

std::string latencyJson(const metrics::Histogram& h) {
  return JsonObject()
      .num("count", static_cast<double>(h.count()))
      .num("sum_seconds", h.sumSeconds())
      .num("p50", h.quantile(0.5))
      .num("p99", h.quantile(0.99))
      .done();
}

using Kind = scripting::EngineStats::Runnable::Kind;

// A trigger's kind as metrics' labels and INFO show it ("keyspace", "stream").
std::string triggerKind(const scripting::EngineStats::Runnable& r) {
  return r.kind == Kind::kKeyspaceTrigger ? "keyspace" : "stream";
}

size_t failedFiles(const Snapshot& s) {
  size_t n = 0;
  for (const auto& f : s.library_files) n += f.error.empty() ? 0 : 1;
  return n;
}

}  // namespace

Operations::Operations(Sources sources) : sources_(std::move(sources)), started_(Clock::now()) {}

Snapshot Operations::snapshot() const {
  Snapshot s;
  s.version = sources_.version;
  s.uptime_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count();
  s.process_id = ::getpid();
  s.port = sources_.server->port();
  s.tls_port = sources_.server->tlsPort();
  s.io_threads = sources_.options->threads;
  s.clients = sources_.server->counts();
  s.backend_address = sources_.backend_address;
  s.backend_embedded = sources_.backend_embedded;
  s.backend_tls = sources_.backend_tls;
  s.backend_reachable = sources_.link->up() && sources_.status->reachable();
  if (!sources_.link->up()) s.backend_error = sources_.link->lastError();
  s.backend_primary = sources_.status->writablePrimary();
  s.backend_reconnects = sources_.link->reconnects();
  if (sources_.cluster != nullptr)
    s.cluster_primaries = sources_.cluster->map()->primaries().size();
  s.gate_drain = &sources_.gate->drainWait();
  s.gate_hold = &sources_.gate->holdTime();
  s.gate_waiting = sources_.gate->sectionsWaiting();
  s.fleet = sources_.fleet != nullptr;
  s.fleet_in_step = sources_.fleet != nullptr && sources_.fleet->inStep();
  s.libraries_loaded = !sources_.not_ready || sources_.not_ready().empty();
  s.engine = sources_.engine->stats();
  s.slowlog_len = sources_.engine->slowLog().length();
  s.slowlog_slower_than = sources_.options->slowlog_log_slower_than;
  if (sources_.library_dir != nullptr) {
    s.library_dir = sources_.library_dir->dir();
    s.library_files = sources_.library_dir->files();
  }
  return s;
}

std::string Operations::info(const Snapshot& s) {
  std::string out = "# tfproxy\r\n";
  line(&out, "tfproxy_version", s.version);
  line(&out, "process_id", s.process_id);
  line(&out, "uptime_in_seconds", s.uptime_seconds);
  line(&out, "tcp_port", s.port);
  line(&out, "tls_port", s.tls_port);
  line(&out, "io_threads", s.io_threads);
  line(&out, "connected_clients", s.clients.connected);
  line(&out, "multiplexed_clients",
       s.clients.connected > s.clients.pinned ? s.clients.connected - s.clients.pinned : 0);
  line(&out, "pinned_clients", s.clients.pinned);
  line(&out, "total_connections_received", s.clients.received);
  line(&out, "rejected_connections", s.clients.rejected);
  line(&out, "backend_address", s.backend_address);
  line(&out, "backend_embedded", s.backend_embedded ? 1 : 0);
  line(&out, "backend_tls", s.backend_tls ? 1 : 0);
  line(&out, "backend_reachable", s.backend_reachable ? 1 : 0);
  line(&out, "backend_role", std::string(s.backend_primary ? "master" : "replica"));
  line(&out, "backend_reconnects", s.backend_reconnects);
  line(&out, "backend_cluster_primaries", s.cluster_primaries);
  uint64_t forwarded = 0;
  std::string families;
  for (size_t i = 0; i < backend::kCommandFamilies; ++i) {
    forwarded += s.clients.commands[i];
    if (i != 0) families += ",";
    families += std::string(backend::familyName(static_cast<backend::CommandFamily>(i))) + "=" +
                std::to_string(s.clients.commands[i]);
  }
  line(&out, "total_forwarded_commands", forwarded);
  line(&out, "forwarded_commands", families);
  line(&out, "total_net_input_bytes", s.clients.bytes_from_clients);
  line(&out, "total_net_output_bytes", s.clients.bytes_to_clients);
  line(&out, "gate_sections", s.gate_hold->count());
  line(&out, "gate_drain_wait_usec", micros(*s.gate_drain));
  line(&out, "gate_hold_usec", micros(*s.gate_hold));
  line(&out, "gate_sections_waiting", s.gate_waiting);
  line(&out, "fleet_enabled", s.fleet ? 1 : 0);
  line(&out, "fleet_in_step", s.fleet_in_step ? 1 : 0);

  uint64_t calls = 0, call_errors = 0, call_us = 0, runs = 0, run_failures = 0;
  size_t total_heap = 0, used_heap = 0, pending_jobs = 0, pending_calls = 0;
  std::string details;
  for (const auto& l : s.engine.libraries) {
    size_t sync = 0, async = 0, keyspace = 0, stream = 0;
    for (const auto& r : l.runnables) {
      const scripting::RunStats& st = *r.stats;
      // As Redis' cmdstat_ lines: count, failures, time.
      const std::string figures = std::to_string(st.runs.value()) +
                                  ",failed=" + std::to_string(st.failures.value()) +
                                  ",usec=" + std::to_string(st.latency.sumMicros()) +
                                  ",usec_per_call=" + perCall(st.latency);
      if (r.isFunction()) {
        (r.kind == Kind::kFunction ? sync : async) += 1;
        calls += st.runs.value();
        call_errors += st.failures.value();
        call_us += st.latency.sumMicros();
        line(&details, "function_" + l.name + "." + r.name, "calls=" + figures);
      } else {
        (r.kind == Kind::kKeyspaceTrigger ? keyspace : stream) += 1;
        runs += st.runs.value();
        run_failures += st.failures.value();
        line(&details, "trigger_" + l.name + "." + r.name,
             "kind=" + triggerKind(r) + ",runs=" + figures);
      }
    }
    for (const auto& st : l.streams) {
      line(&details, "stream_" + l.name + "." + st.trigger,
           "db=" + std::to_string(st.db) + ",key=" + infoSafe(st.key) + ",processed=" +
               std::to_string(st.processed) + ",lag_ms=" + std::to_string(st.last_lag_ms) +
               ",pending=" + std::to_string(st.pending));
    }
    total_heap += l.total_heap;
    used_heap += l.used_heap;
    pending_jobs += l.pending_jobs;
    pending_calls += l.pending_async_calls;
    // Upstream's per-library figures, under their names.
    line(&details, "library_" + l.name,
         "api_version=" + l.api_version + ",user=" + infoSafe(l.user) + ",function_count(sync)=" +
             std::to_string(sync) + ",function_count(async)=" + std::to_string(async) +
             ",notification_consumers_count=" + std::to_string(keyspace) +
             ",stream_consumers_count=" + std::to_string(stream) +
             ",cluster_functions_count=" + std::to_string(l.cluster_functions.size()) +
             ",pending_jobs_count=" + std::to_string(l.pending_jobs) +
             ",pending_async_calls_count=" + std::to_string(l.pending_async_calls) +
             ",total_heap_size=" + std::to_string(l.total_heap) + ",used_heap_size=" +
             std::to_string(l.used_heap) + ",heap_size_limit=" + std::to_string(l.heap_limit));
  }
  line(&out, "libraries", s.engine.libraries.size());
  // Upstream's V8AggregatedLibraryStatistics names.
  line(&out, "active", s.engine.libraries.size());
  line(&out, "not_active", s.engine.not_active);
  line(&out, "function_calls", calls);
  line(&out, "function_errors", call_errors);
  line(&out, "function_usec", call_us);
  line(&out, "function_calls_on_io_threads", s.engine.io_thread_calls);
  line(&out, "trigger_runs", runs);
  line(&out, "trigger_failures", run_failures);
  line(&out, "pending_jobs", pending_jobs);
  line(&out, "pending_async_calls", pending_calls);
  line(&out, "combined_memory_limit", s.engine.combined_memory_limit);
  line(&out, "total_heap_size", total_heap);
  line(&out, "used_heap_size", used_heap);
  line(&out, "slowlog_len", s.slowlog_len);
  line(&out, "library_dir", s.library_dir);
  line(&out, "library_dir_files", s.library_files.size());
  line(&out, "library_dir_errors", failedFiles(s));
  return out + details;
}

std::string Operations::prometheus(const Snapshot& s) {
  Exposition e;
  e.family("tfproxy_info", "gauge", "Version of this tfproxy (the value is always 1).");
  e.sample("tfproxy_info", {{"version", s.version}}, 1);
  e.family("tfproxy_uptime_seconds", "gauge", "Seconds since tfproxy started.");
  e.sample("tfproxy_uptime_seconds", {}, static_cast<double>(s.uptime_seconds));
  e.family("tfproxy_connected_clients", "gauge", "Clients connected now.");
  e.sample("tfproxy_connected_clients", {}, static_cast<double>(s.clients.connected));
  e.family("tfproxy_pinned_clients", "gauge",
           "Clients on a backend connection of their own (the others share one per I/O thread).");
  e.sample("tfproxy_pinned_clients", {}, static_cast<double>(s.clients.pinned));
  e.family("tfproxy_connections_received_total", "counter", "Client connections accepted.");
  e.sample("tfproxy_connections_received_total", {}, static_cast<double>(s.clients.received));
  e.family("tfproxy_rejected_connections_total", "counter",
           "Client connections refused for --maxclients.");
  e.sample("tfproxy_rejected_connections_total", {}, static_cast<double>(s.clients.rejected));
  e.family("tfproxy_forwarded_commands_total", "counter",
           "Commands forwarded to the backend, by command family.");
  for (size_t i = 0; i < backend::kCommandFamilies; ++i) {
    e.sample("tfproxy_forwarded_commands_total",
             {{"family", backend::familyName(static_cast<backend::CommandFamily>(i))}},
             static_cast<double>(s.clients.commands[i]));
  }
  e.family("tfproxy_client_received_bytes_total", "counter", "Bytes read from clients.");
  e.sample("tfproxy_client_received_bytes_total", {},
           static_cast<double>(s.clients.bytes_from_clients));
  e.family("tfproxy_client_sent_bytes_total", "counter", "Bytes written to clients.");
  e.sample("tfproxy_client_sent_bytes_total", {}, static_cast<double>(s.clients.bytes_to_clients));
  e.family("tfproxy_backend_up", "gauge", "1 while the backend answers.");
  e.sample("tfproxy_backend_up", {{"address", s.backend_address}}, s.backend_reachable ? 1 : 0);
  e.family("tfproxy_backend_primary", "gauge", "1 while the backend is a writable primary.");
  e.sample("tfproxy_backend_primary", {}, s.backend_primary ? 1 : 0);
  e.family("tfproxy_backend_reconnects_total", "counter",
           "Times the backend became reachable again after an outage.");
  e.sample("tfproxy_backend_reconnects_total", {}, static_cast<double>(s.backend_reconnects));
  e.family("tfproxy_gate_drain_wait_seconds", "histogram",
           "How long each atomic section waited for forwarded commands to be answered.");
  e.histogram("tfproxy_gate_drain_wait_seconds", {}, *s.gate_drain);
  e.family("tfproxy_gate_hold_seconds", "histogram", "How long each atomic section held the gate.");
  e.histogram("tfproxy_gate_hold_seconds", {}, *s.gate_hold);
  e.family("tfproxy_gate_sections_waiting", "gauge", "Atomic sections waiting to enter now.");
  e.sample("tfproxy_gate_sections_waiting", {}, s.gate_waiting);
  e.family("tfproxy_fleet_in_step", "gauge",
           "1 while this instance is in step with its fleet (always 0 with --fleet no).");
  e.sample("tfproxy_fleet_in_step", {}, s.fleet_in_step ? 1 : 0);
  e.family("tfproxy_libraries", "gauge", "JavaScript libraries loaded.");
  e.sample("tfproxy_libraries", {}, static_cast<double>(s.engine.libraries.size()));

  auto perRunnable = [&](bool functions, std::string_view name, std::string_view type,
                         std::string_view help, auto write) {
    e.family(name, type, help);
    for (const auto& l : s.engine.libraries) {
      for (const auto& r : l.runnables) {
        if (r.isFunction() != functions) continue;
        Labels labels{{"library", l.name}, {functions ? "function" : "trigger", r.name}};
        if (!functions) labels.emplace_back("kind", triggerKind(r));
        write(name, labels, *r.stats);
      }
    }
  };
  auto runs = [&](std::string_view n, const Labels& l, const scripting::RunStats& r) {
    e.sample(n, l, static_cast<double>(r.runs.value()));
  };
  auto failures = [&](std::string_view n, const Labels& l, const scripting::RunStats& r) {
    e.sample(n, l, static_cast<double>(r.failures.value()));
  };
  auto latency = [&](std::string_view n, const Labels& l, const scripting::RunStats& r) {
    e.histogram(n, l, r.latency);
  };
  perRunnable(true, "tfproxy_function_calls_total", "counter", "Calls of each function.", runs);
  perRunnable(true, "tfproxy_function_errors_total", "counter",
              "Calls of each function that answered an error.", failures);
  perRunnable(true, "tfproxy_function_duration_seconds", "histogram",
              "From TFCALL or TFCALLASYNC to the reply, for each function.", latency);
  perRunnable(false, "tfproxy_trigger_runs_total", "counter", "Runs of each trigger.", runs);
  perRunnable(false, "tfproxy_trigger_failures_total", "counter",
              "Runs of each trigger that failed.", failures);
  perRunnable(false, "tfproxy_trigger_duration_seconds", "histogram",
              "From the event (or the stream entry) to the end of each trigger's run.", latency);

  using Stream = scripting::EngineStats::Stream;
  auto perStream = [&](std::string_view name, std::string_view type, std::string_view help,
                       auto value) {
    e.family(name, type, help);
    for (const auto& l : s.engine.libraries) {
      for (const Stream& st : l.streams) {
        e.sample(name, {{"library", l.name}, {"trigger", st.trigger}, {"stream", st.key}},
                 value(st));
      }
    }
  };
  perStream("tfproxy_stream_trigger_lag_seconds", "gauge",
            "Age of the last entry each stream trigger took from each stream, when it took it.",
            [](const Stream& st) { return static_cast<double>(st.last_lag_ms) / 1000.0; });
  perStream("tfproxy_stream_trigger_records_total", "counter",
            "Stream entries each stream trigger processed from each stream.",
            [](const Stream& st) { return static_cast<double>(st.processed); });
  auto perLibrary = [&](std::string_view name, std::string_view help, auto value) {
    e.family(name, "gauge", help);
    for (const auto& l : s.engine.libraries) {
      e.sample(name, {{"library", l.name}}, static_cast<double>(value(l)));
    }
  };
  using Library = scripting::EngineStats::Library;
  perLibrary("tfproxy_v8_heap_used_bytes", "V8 heap in use, by library.",
             [](const Library& l) { return l.used_heap; });
  perLibrary("tfproxy_v8_heap_total_bytes", "V8 heap reserved, by library.",
             [](const Library& l) { return l.total_heap; });
  perLibrary("tfproxy_v8_heap_limit_bytes", "V8 heap limit now, by library.",
             [](const Library& l) { return l.heap_limit; });
  perLibrary("tfproxy_pending_jobs", "Background jobs waiting, by library.",
             [](const Library& l) { return l.pending_jobs; });
  perLibrary("tfproxy_pending_async_calls", "callAsync commands waiting, by library.",
             [](const Library& l) { return l.pending_async_calls; });
  e.family("tfproxy_v8_maxmemory_bytes", "gauge", "v8-maxmemory: the heap all libraries share.");
  e.sample("tfproxy_v8_maxmemory_bytes", {}, static_cast<double>(s.engine.combined_memory_limit));
  e.family("tfproxy_library_dir_errors", "gauge",
           "Files of --library-dir whose last version did not load.");
  e.sample("tfproxy_library_dir_errors", {}, static_cast<double>(failedFiles(s)));
  e.family("tfproxy_function_calls_on_io_threads_total", "counter",
           "Function calls run on the I/O thread that received them (--io-thread-functions).");
  e.sample("tfproxy_function_calls_on_io_threads_total", {},
           static_cast<double>(s.engine.io_thread_calls));
  e.family("tfproxy_slowlog_length", "gauge", "Entries in TFUNCTION SLOWLOG.");
  e.sample("tfproxy_slowlog_length", {}, static_cast<double>(s.slowlog_len));
  return e.take();
}

std::string Operations::json(const Snapshot& s) {
  JsonObject clients;
  clients.num("connected", static_cast<double>(s.clients.connected))
      .num("pinned", static_cast<double>(s.clients.pinned))
      .num("received", static_cast<double>(s.clients.received))
      .num("rejected", static_cast<double>(s.clients.rejected));
  JsonObject forwarded;
  for (size_t i = 0; i < backend::kCommandFamilies; ++i) {
    forwarded.num(backend::familyName(static_cast<backend::CommandFamily>(i)),
                  static_cast<double>(s.clients.commands[i]));
  }
  JsonObject backend;
  backend.text("address", s.backend_address)
      .flag("embedded", s.backend_embedded)
      .flag("tls", s.backend_tls)
      .flag("reachable", s.backend_reachable)
      .text("error", s.backend_error)
      .text("role", s.backend_primary ? "master" : "replica")
      .num("reconnects", static_cast<double>(s.backend_reconnects))
      .num("cluster_primaries", static_cast<double>(s.cluster_primaries));
  JsonObject gate;
  gate.field("drain_wait", latencyJson(*s.gate_drain))
      .field("hold", latencyJson(*s.gate_hold))
      .num("waiting", s.gate_waiting)
      .flag("fleet", s.fleet)
      .flag("fleet_in_step", s.fleet_in_step);
  std::vector<std::string> libraries;
  for (const auto& l : s.engine.libraries) {
    std::vector<std::string> runnables;
    for (const auto& r : l.runnables) {
      JsonObject o;
      o.text("name", r.name)
          .text("kind", r.kindName())
          .num("runs", static_cast<double>(r.stats->runs.value()))
          .num("failures", static_cast<double>(r.stats->failures.value()))
          .field("latency", latencyJson(r.stats->latency));
      if (r.last_error) o.text("last_error", *r.last_error);
      runnables.push_back(o.done());
    }
    std::vector<std::string> streams;
    for (const auto& st : l.streams) {
      streams.push_back(JsonObject()
                            .text("trigger", st.trigger)
                            .num("db", static_cast<double>(st.db))
                            .text("key", st.key)
                            .num("processed", static_cast<double>(st.processed))
                            .num("lag_ms", static_cast<double>(st.last_lag_ms))
                            .num("pending", static_cast<double>(st.pending))
                            .done());
    }
    std::vector<std::string> cluster_functions;
    for (const auto& name : l.cluster_functions) cluster_functions.push_back(jsonString(name));
    JsonObject lib;
    lib.text("name", l.name)
        .text("user", l.user)
        .text("api_version", l.api_version)
        .field("config", l.config ? jsonString(*l.config) : "null")
        .num("code_bytes", static_cast<double>(l.code_bytes))
        .field("runnables", jsonArray(runnables))
        .field("streams", jsonArray(streams))
        .field("cluster_functions", jsonArray(cluster_functions))
        .num("used_heap", static_cast<double>(l.used_heap))
        .num("total_heap", static_cast<double>(l.total_heap))
        .num("heap_limit", static_cast<double>(l.heap_limit))
        .num("pending_jobs", static_cast<double>(l.pending_jobs))
        .num("pending_async_calls", static_cast<double>(l.pending_async_calls));
    libraries.push_back(lib.done());
  }
  std::vector<std::string> files;
  for (const auto& f : s.library_files) {
    files.push_back(JsonObject()
                        .text("path", f.path)
                        .text("library", f.library)
                        .text("error", f.error)
                        .num("loaded_at", static_cast<double>(f.loaded_at))
                        .done());
  }
  return JsonObject()
      .text("version", s.version)
      .num("uptime_seconds", static_cast<double>(s.uptime_seconds))
      .num("process_id", static_cast<double>(s.process_id))
      .num("port", s.port)
      .num("tls_port", s.tls_port)
      .num("io_threads", s.io_threads)
      .field("clients", clients.done())
      .field("forwarded", forwarded.done())
      .num("bytes_in", static_cast<double>(s.clients.bytes_from_clients))
      .num("bytes_out", static_cast<double>(s.clients.bytes_to_clients))
      .field("backend", backend.done())
      .field("gate", gate.done())
      .flag("libraries_loaded", s.libraries_loaded)
      .field("libraries", jsonArray(libraries))
      .num("v8_maxmemory", static_cast<double>(s.engine.combined_memory_limit))
      .num("slowlog_len", static_cast<double>(s.slowlog_len))
      .text("library_dir", s.library_dir)
      .field("library_files", jsonArray(files))
      .done();
}

void Operations::probes(const HttpRequest& request,
                        std::function<void(HttpResponse)> respond) const {
  if (request.method != "GET" && request.method != "HEAD") {
    return respond(HttpResponse::text(405, "GET only\n"));
  }
  if (request.path == "/healthz") return respond(HttpResponse::text(200, "ok\n"));
  if (request.path == "/readyz") {
    const std::string not_ready = sources_.not_ready ? sources_.not_ready() : std::string();
    if (not_ready.empty()) return respond(HttpResponse::text(200, "ready\n"));
    return respond(HttpResponse::text(503, "not ready: " + not_ready + "\n"));
  }
  respond(HttpResponse::text(404, "GET /healthz or /readyz\n"));
}

void Operations::change(const HttpRequest& request,
                        std::function<void(HttpResponse)> respond) const {
  auto error = [&](int status, const std::string& text) {
    respond(HttpResponse::json(status, JsonObject().text("error", text).done()));
  };
  // A form another site's page could post lacks this header (setting it needs CORS, which
  // tfproxy does not grant).
  if (request.headers.count(kAdminHeader) == 0) {
    return error(403, std::string("changes need the ") + kAdminHeader + " header");
  }
  if (!sources_.run_as) return error(403, "changes are not available");
  std::map<std::string, std::string> form;
  io::parseQuery(request.body, &form);
  auto field = [&](const std::string& name) {
    auto it = form.find(name);
    return it == form.end() ? std::string() : it->second;
  };
  std::vector<std::string> argv;
  if (request.path == "/api/load") {
    argv = {"TFUNCTION", "LOAD"};
    if (field("replace") == "1") argv.emplace_back("REPLACE");
    if (!field("config").empty()) {
      argv.emplace_back("CONFIG");
      argv.push_back(field("config"));
    }
    argv.push_back(field("code"));
  } else if (request.path == "/api/delete") {
    argv = {"TFUNCTION", "DELETE", field("library")};
  } else if (request.path == "/api/config") {
    argv = {"CONFIG", "SET", "redisgears_2." + field("name"), field("value")};
  } else {
    return error(404, "no such change: POST /api/load, /api/delete or /api/config");
  }
  functions::ClientContext client;
  client.user = field("user").empty() ? "default" : field("user");
  client.password = field("password");
  client.address = request.peer;
  sources_.run_as(std::move(argv), std::move(client), [respond](std::string reply) {
    if (!reply.empty() && reply[0] == '+') {
      return respond(HttpResponse::json(200, JsonObject().flag("ok", true).done()));
    }
    // An error reply, "-<text>\r\n": its text, as a client would read it.
    const std::string text = reply.size() >= 3 ? reply.substr(1, reply.size() - 3) : reply;
    const int status = text.rfind("WRONGPASS", 0) == 0 || text.rfind("NOAUTH", 0) == 0 ? 401
                       : text.rfind("NOPERM", 0) == 0                                  ? 403
                                                                                       : 400;
    respond(HttpResponse::json(status, JsonObject().text("error", text).done()));
  });
}

void Operations::http(const HttpRequest& request, std::function<void(HttpResponse)> respond) const {
  if (request.path == "/healthz" || request.path == "/readyz") {
    return probes(request, std::move(respond));
  }
  if (request.method == "POST" && request.path.rfind("/api/", 0) == 0 &&
      request.path != "/api/state") {
    return change(request, std::move(respond));
  }
  if (request.method != "GET" && request.method != "HEAD") {
    return respond(HttpResponse::text(405, "GET, or POST for a change under /api/\n"));
  }
  if (request.path == "/metrics") {
    HttpResponse r = HttpResponse::text(200, prometheus(snapshot()));
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return respond(std::move(r));
  }
  if (request.path == "/api/state") return respond(HttpResponse::json(200, json(snapshot())));
  if (request.path == "/favicon.ico") return respond(HttpResponse::text(204, ""));
  if (request.path == "/api/code") {
    const std::string name = request.param("library");
    for (const scripting::LibraryDefinition& d : sources_.engine->definitions()) {
      if (d.name == name) return respond(HttpResponse::text(200, d.code));
    }
    return respond(HttpResponse::text(404, "no library named '" + name + "'\n"));
  }
  if (request.path == "/" || request.path == "/index.html") {
    HttpResponse r{200, "text/html; charset=utf-8", std::string(kAdminPage), {}};
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; style-src 'unsafe-inline'; "
                           "script-src 'unsafe-inline'");
    return respond(std::move(r));
  }
  respond(HttpResponse::text(404, "not found: GET /, /metrics, /api/state, /healthz or /readyz\n"));
}

}  // namespace tfproxy::server
