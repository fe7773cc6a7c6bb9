// TFCALL and TFCALLASYNC (spec §3.4), and the internal commands clients may not run (§3.7).
#include "functions/errors.h"
#include "functions/handler_support.h"
#include "functions/tf_commands.h"
#include "scripting/errors.h"
#include "scripting/text.h"

namespace tfproxy::functions {

void TfCommands::tfcall(const Args& argv, const ClientContext& client, Done done) {
  if (!scripting::isValidUtf8(argv[1]))
    return done(errorReply(client, scripting::errors::kNotUtf8));
  const std::string& target = argv[1];
  size_t dot = target.find('.');
  if (dot == std::string::npos) return done(errorReply(client, scripting::errors::kNoFunctionName));
  scripting::CallRequest request;
  request.library = target.substr(0, dot);
  std::string rest = target.substr(dot + 1);
  request.function = rest.substr(0, rest.find('.'));  // anything after a second dot is ignored
  if (!scripting::isValidUtf8(argv[2]))
    return done(errorReply(client, scripting::errors::kNotUtf8));
  std::string error;
  const std::optional<uint64_t> numkeys = parseNumkeys(argv[2], &error);
  if (!numkeys) return done(errorReply(client, error));
  request.numkeys = *numkeys;
  request.args.assign(argv.begin() + 3, argv.end());
  request.identity.user = client.user;
  request.identity.password = client.password;
  request.db = client.db;
  request.protocol = client.protocol;
  request.client_address = client.address;
  request.async_call = lower(argv[0]) == "tfcallasync";
  request.in_transaction = client.in_multi;
  // Inside a proxy-run EXEC the transaction already holds the gate and the library: the
  // function runs on its thread.
  request.section_held = client.in_multi;
  request.run_here = client.in_multi;
  if (!client.in_multi) request.io_thread = client.io_thread;
  services_.engine->call(std::move(request), std::move(done));
}

void TfCommands::internal(const Args&, const ClientContext& client, Done done) {
  done(errorReply(client, errors::kInternalCommand));
}

}  // namespace tfproxy::functions
