// What every Node.js scenario of the suite reports with: named checks collected as failures,
// printed at the end; "ok" and exit status 0 when none failed.
export function checks() {
  const failures = [];
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  return {
    failures,
    // A condition, with what to show when it does not hold.
    check(what, ok, detail = '') { if (!ok) failures.push(`${what} ${detail}`); },
    // A value that must equal `wanted` (compared as JSON).
    expect(what, got, wanted) {
      if (!same(got, wanted)) {
        failures.push(`${what}: got ${JSON.stringify(got)}, wanted ${JSON.stringify(wanted)}`);
      }
    },
    // A promise that must reject with `text`.
    async expectError(what, promise, text) {
      try {
        await promise;
        failures.push(`${what}: no error, wanted ${text}`);
      } catch (e) {
        if (e.message !== text) failures.push(`${what}: got ${e.message}, wanted ${text}`);
      }
    },
    // Prints the outcome and exits (open handles of clients would keep node waiting).
    finish() {
      if (failures.length > 0) {
        console.error(failures.join('\n'));
        process.exit(1);
      }
      console.log('ok');
      process.exit(0);
    },
  };
}
