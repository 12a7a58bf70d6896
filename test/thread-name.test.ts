import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { nameThisThread, THREAD_NAME_MAX } from '../src/backends/thread-name';

describe('thread names (top -H tells the engine\'s threads apart)', function () {
  it('names a thread through its comm file: printable ASCII, at most 15 bytes; false where it cannot', function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'comm-'));
    try {
      const comm = path.join(dir, 'comm');
      expect(nameThisThread('ort-worker-1 extra long name', comm)).to.equal(true);
      expect(fs.readFileSync(comm, 'utf8')).to.equal('ort-worker-1_ex').and.have.length(THREAD_NAME_MAX);
      expect(nameThisThread('', comm)).to.equal(false);
      expect(nameThisThread('x', path.join(dir, 'missing', 'comm'))).to.equal(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
