// The HdrHistogram reference implementation (Java, Debian's libhdrhistogram-java) on the other side of
// rtinfer's --json histograms (test/hdr-interop.test.ts).
//   decode DIGITS: reads one base64 V2 compressed histogram a line; prints, per line, the total count, the
//                  values at p50 p99 p99.9, then "value:count" for every recorded bucket (highest equivalent value).
//   encode DIGITS: reads integers (µs) from stdin; prints the V2 compressed base64 of a Histogram(1, 3.6e9, DIGITS).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.util.Base64;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;

public class HdrInterop {
  public static void main(String[] args) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
    if (args[0].equals("decode")) {
      String line;
      while ((line = in.readLine()) != null) {
        if (line.isEmpty()) continue;
        Histogram h = Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(Base64.getDecoder().decode(line.trim())), 0);
        StringBuilder sb = new StringBuilder();
        sb.append(h.getTotalCount()).append(' ').append(h.getValueAtPercentile(50)).append(' ').append(h.getValueAtPercentile(99)).append(' ').append(h.getValueAtPercentile(99.9));
        for (HistogramIterationValue v : h.recordedValues()) sb.append(' ').append(v.getValueIteratedTo()).append(':').append(v.getCountAddedInThisIterationStep());
        System.out.println(sb);
      }
    } else {
      Histogram h = new Histogram(1, 3_600_000_000L, Integer.parseInt(args[1]));
      String line;
      while ((line = in.readLine()) != null) for (String t : line.trim().split("\\s+")) if (!t.isEmpty()) h.recordValue(Long.parseLong(t));
      ByteBuffer b = ByteBuffer.allocate(h.getNeededByteBufferCapacity());
      int n = h.encodeIntoCompressedByteBuffer(b);
      System.out.println(Base64.getEncoder().encodeToString(java.util.Arrays.copyOf(b.array(), n)));
    }
  }
}
